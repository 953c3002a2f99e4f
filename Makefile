# Conveniences over ./dev (which needs no make), and the build step `sam build` calls.
.PHONY: demo test
demo:
	./dev demo
test:
	./dev test

# sam build (template.yaml, BuildMethod: makefile): the package and its runtime dependencies,
# installed from pyproject.toml, without the embedded emulator or test tools. Native wheels
# (pydantic-core, aiohttp) must match the function's runtime: build with python3.13 on PATH,
# or `sam build --use-container`.
build-WorkerFunction:
	python3 -m pip install --no-compile --target "$(ARTIFACTS_DIR)" .
