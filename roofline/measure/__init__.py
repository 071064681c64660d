"""Measuring: the profiler, timers, device query, energy meters, Nsight Compute and Kineto import, trace
I/O and schema, the decode stack built from the kernels, suites. May import engine and kernels."""
