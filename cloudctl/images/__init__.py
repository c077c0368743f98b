"""Image tooling of the cloud: EC2/Eucalyptus bundles (build, unbundle, install).

``bundle`` builds and reads bundles (the format and the decrypting reader are
``nodectl.bundle``); ``keys`` holds the cloud's RSA bundle certificate;
``install`` uploads a bundle to S3 and registers it (what euca-install-image did).
"""
