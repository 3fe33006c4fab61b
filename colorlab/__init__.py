"""colorlab: a course-pack on automatic image colorization with conditional GANs.

Modules (one concept each): ``color`` (RGB <-> CIE Lab and the network scaling), ``data``
(datasets and the embedded offline sample set), ``models`` (U-Nets, ResNet18 DynamicUnet,
PatchGAN discriminators), ``losses`` (GAN losses, gradient penalty, reconstruction),
``runtime`` (the one quick/full switch and the device).
"""

__version__ = "0.1.0"
