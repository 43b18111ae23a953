/* The verifier's GPU kernels: vector add and a shared-memory tiled SGEMM.
 *
 * One source, two compilers. clang's NVPTX back end (-nocudainc, no CUDA headers) makes the PTX,
 * because it can target a low PTX ISA (6.0 for sm_70) that every driver since CUDA 9 JIT-compiles;
 * nvcc 13 only emits ISA 9.0, which drivers older than 580 refuse. nvcc makes the SASS cubins
 * (sm_80, sm_90) where it is installed. So this file must build without cuda_runtime.h: the few
 * CUDA keywords it uses are spelled through macros that map to clang builtins when nvcc's
 * headers are absent.
 *
 * The kernels are extern "C" so their entry names are the plain names the host looks up with
 * cuModuleGetFunction(); the host passes the parameters in the order declared here.
 */
#ifndef __global__
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#endif

#ifdef __NVCC__
#define KV_TID_X threadIdx.x
#define KV_TID_Y threadIdx.y
#define KV_CTAID_X blockIdx.x
#define KV_CTAID_Y blockIdx.y
#define KV_NTID_X blockDim.x
#define KV_SYNC() __syncthreads()
#else
#define KV_TID_X __nvvm_read_ptx_sreg_tid_x()
#define KV_TID_Y __nvvm_read_ptx_sreg_tid_y()
#define KV_CTAID_X __nvvm_read_ptx_sreg_ctaid_x()
#define KV_CTAID_Y __nvvm_read_ptx_sreg_ctaid_y()
#define KV_NTID_X __nvvm_read_ptx_sreg_ntid_x()
#define KV_SYNC() __syncthreads()
#endif

/* Must match KV_GEMM_TILE in kv.h: the host launches TILE x TILE blocks. */
#define TILE 16

/* c[i] = a[i] + b[i] for i < n; one thread per element. */
extern "C" __global__ void kv_vadd(const float *a, const float *b, float *c, unsigned n)
{
        unsigned i = KV_CTAID_X * KV_NTID_X + KV_TID_X;
        if (i < n)
                c[i] = a[i] + b[i];
}

/* Row-major C[m x n] = A[m x k] * B[k x n]. Each TILE x TILE block computes one tile of C, walking
 * k in steps of TILE through tiles of A and B staged in shared memory; edges are zero-padded, so
 * m, n and k need not be multiples of TILE. */
extern "C" __global__ void kv_sgemm(const float *a, const float *b, float *c, unsigned m, unsigned n,
                                    unsigned k)
{
        __shared__ float as[TILE][TILE];
        __shared__ float bs[TILE][TILE];
        unsigned tx = KV_TID_X, ty = KV_TID_Y;
        unsigned row = KV_CTAID_Y * TILE + ty;
        unsigned col = KV_CTAID_X * TILE + tx;
        float acc = 0.0f;

        for (unsigned t = 0; t < k; t += TILE) {
                unsigned ka = t + tx, kb = t + ty;
                as[ty][tx] = (row < m && ka < k) ? a[(unsigned long)row * k + ka] : 0.0f;
                bs[ty][tx] = (kb < k && col < n) ? b[(unsigned long)kb * n + col] : 0.0f;
                KV_SYNC();
                for (unsigned i = 0; i < TILE; i++)
                        acc += as[ty][i] * bs[i][tx];
                KV_SYNC();
        }
        if (row < m && col < n)
                c[(unsigned long)row * n + col] = acc;
}
