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
