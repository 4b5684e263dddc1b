-- Test modulefile: a fake CUDA 12.4 (the directory need not exist); only the
-- environment changes matter to the tests.
help([[CUDA 12.4 (fake, for the jupyter_container_kernels tests)]])
whatis("Name: cuda")
whatis("Version: 12.4")

local root = "/opt/jck-test/cuda-12.4"
setenv("CUDA_HOME", root)
setenv("CUDA_VERSION", "12.4")
prepend_path("PATH", pathJoin(root, "bin"))
prepend_path("LD_LIBRARY_PATH", pathJoin(root, "lib64"))
