# The seeds' check that an image works: CUDA visible to torch, and one cuBLAS gemm on the GPU.
import torch

print("torch", torch.__version__, "cuda", torch.version.cuda)
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
x = torch.randn(1000, 1000).to("cuda")
print("gemm ok", torch.mm(x, x.t()).shape)
