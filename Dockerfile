# The image every Kubeflow / Vertex AI step runs in, and the SDK container for remote Beam
# workers (--sdk_container_image). Build from the project root:
#   docker build -t REGISTRY/nmt-tfx:0.1.0 . && docker push REGISTRY/nmt-tfx:0.1.0
# The GPU variant adds the CUDA 12.3 and cuDNN 8.9 wheels TensorFlow 2.16 runs on GPUs with
# (pinned in requirements/constraints.txt; the driver comes from the node):
#   docker build --build-arg VARIANT=gpu -t REGISTRY/nmt-tfx:0.1.0-gpu .
FROM tensorflow/tfx:1.16.0
ARG VARIANT=cpu

# The steps' entry points are TFX's own, which load TensorFlow before any project code:
# the one place outside pipeline/__init__.py that sets tf-keras (Keras 2) for TFT and TFMA.
ENV TF_USE_LEGACY_KERAS=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The compiled pipeline refers to the project's modules by import path and to the sample
# corpus as /nmt-tfx/data (pipeline/kubeflow_runner.py, IMAGE_PROJECT_ROOT).
WORKDIR /nmt-tfx
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml README.md ./
COPY components components
COPY modules modules
COPY pipeline pipeline
COPY data data

# The same resolved versions as a local install, on top of the TFX image.
RUN case "$VARIANT" in cpu) extras=kfp ;; gpu) extras=kfp,gpu ;; \
      *) echo "VARIANT must be cpu or gpu, not $VARIANT" >&2; exit 1 ;; esac \
    && pip install -c requirements/constraints.txt ".[$extras]" \
    && python -c "import components.tsv_example_gen, modules.training.trainer, pipeline.definition"
