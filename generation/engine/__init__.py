"""Plain-Python generation engine: loads diffusers pipelines from local paths and runs them. Imports no Django."""  # noqa: E501
