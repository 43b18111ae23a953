// A kernel for the static compatibility report's tests: compiled by nvcc for chosen targets.
__global__ void compat_add(float *a, const float *b, int n)
{
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n)
                a[i] += b[i];
}

extern "C" void compat_launch(float *a, const float *b, int n)
{
        compat_add<<<(n + 255) / 256, 256>>>(a, b, n);
}

// For the GPU check of the report's verdicts (kernels/evidence/compat-run.sh): launches the kernel
// once and returns the CUDA error code (0: it ran); compat_error names a code.
extern "C" int compat_run(void)
{
        float *a = 0, *b = 0;
        cudaError_t e = cudaMalloc(&a, 1024 * sizeof(float));
        if (e == cudaSuccess)
                e = cudaMalloc(&b, 1024 * sizeof(float));
        if (e == cudaSuccess) {
                compat_add<<<4, 256>>>(a, b, 1024);
                e = cudaGetLastError();
        }
        if (e == cudaSuccess)
                e = cudaDeviceSynchronize();
        cudaFree(a);
        cudaFree(b);
        return (int) e;
}

extern "C" const char *compat_error(int e)
{
        return cudaGetErrorString((cudaError_t) e);
}
