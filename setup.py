from setuptools import find_packages, setup

setup(
    name='rarelearn',
    version='0.1.0',
    description='Why larger models learn rare tasks: width populations, task mixtures, theory.',
    packages=find_packages(include=['rarelearn', 'rarelearn.*']),
    python_requires='>=3.10',
    install_requires=[
        'jax==0.10.2',
        'jaxlib==0.10.2',
        'flax==0.12.8',
        'optax==0.2.8',
        'orbax-checkpoint==0.12.8',
        'chex==0.1.92',
        'ml-collections==1.1.0',
        'absl-py==2.5.1',
        'numpy>=1.26',
        'matplotlib==3.11.2',
        'tqdm==4.70.1',
    ],
    extras_require={
        'test': ['pytest>=8', 'pytest-xdist==3.8.0', 'nbformat==5.11.1', 'nbclient==0.11.0',
                 'ipykernel==7.4.0', 'tokenizers==0.23.3', 'tensorboardX==2.6.5'],
        # python -m rarelearn.textdata: text files -> a token file (Hugging Face tokenizers).
        'text': ['tokenizers==0.23.3'],
        # python -m rarelearn.main --tensorboard: live metrics as TensorBoard event files.
        'tensorboard': ['tensorboardX==2.6.5'],
        # torch is a benchmark baseline only; this pin takes the local CPU build.
        'bench': ['torch==2.13.0'],
    },
)
