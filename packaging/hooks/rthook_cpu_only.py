# PyInstaller runtime hook of the --cpu-only bundle: it lacks the CUDA libraries torch opens
# only on a GPU (cuDNN's kernels, cuSOLVER, ...), so it must never try to use one. Hiding the GPUs
# makes torch.cuda.is_available() False and every "auto" device the CPU.
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
