# python-gdcm: gdcm.py loads _gdcm/_gdcmswig (its libgdcm*.so are found next to it by the binary
# dependency analysis) and points GDCM's resource manager at _gdcm/XML, the DICOM dictionaries
# GDCM reads for some attributes. The command-line tools in _gdcm/ are left out (see the spec).
from PyInstaller.utils.hooks import collect_data_files

hiddenimports = ["_gdcm", "_gdcm.gdcmswig"]
datas = collect_data_files("_gdcm", includes=["XML/*.xml"])
