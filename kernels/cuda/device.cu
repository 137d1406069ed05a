/*
 * device.cu: CUDA device discovery.  A build with CUDA still runs where
 * no driver or device exists: the probe then fails and `auto` uses the
 * CPU.
 */
#include "common.cuh"

extern "C" int kern_cuda_probe(char name[65])
{
	int count = 0, dev = 0;
	cudaDeviceProp prop;

	if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
		(void)cudaGetLastError();
		return 1;
	}
	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
		(void)cudaGetLastError();
		return 1;
	}
	snprintf(name, 65, "cuda:sm_%d%d", prop.major, prop.minor);
	return 0;
}
