"""genaiops: settings and command line shared by app/, rag/, classic_ml/, eval/, prompts/ and ui/."""

__version__ = "0.1.0"
