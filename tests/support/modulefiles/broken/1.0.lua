-- Test modulefile that always fails to load (error paths of `module load`).
help([[A module that fails on load, for tests]])
whatis("Name: broken")
whatis("Version: 1.0")

LmodError("broken module for tests")
