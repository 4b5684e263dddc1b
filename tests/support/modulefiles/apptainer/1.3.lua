-- Test modulefile: puts the Apptainer stand-in (tests/support/bin) on PATH.
-- The path is computed from this file's own location, so any checkout works.
help([[Apptainer 1.3 stand-in for the jupyter_container_kernels tests]])
whatis("Name: apptainer")
whatis("Version: 1.3")
whatis("Description: test stand-in running directory images with Charliecloud")

-- .../tests/support/modulefiles/apptainer/1.3.lua -> .../tests/support
local support = myFileName():match("^(.*)/[^/]+/[^/]+/[^/]+$")
prepend_path("PATH", pathJoin(support, "bin"))
setenv("APPTAINER_ROOT", support)
