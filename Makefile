# Conveniences over ./dev (which needs no make), and the build step `sam build` calls.
.PHONY: demo test
demo:
	./dev demo
test:
	./dev test

# sam build (template.yaml, BuildMethod: makefile): the runtime dependencies as the lock
# (requirements.txt) names them, hashes checked, then the package itself; without the embedded
# emulator or test tools. Native wheels
# (pydantic-core, aiohttp) must match the function's runtime: build with python3.13 on PATH,
# or `sam build --use-container`.
build-WorkerFunction:
	python3 -m pip install --no-compile --require-hashes --target "$(ARTIFACTS_DIR)" -r requirements.txt
	python3 -m pip install --no-compile --no-deps --target "$(ARTIFACTS_DIR)" .
