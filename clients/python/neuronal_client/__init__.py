"""A small typed client for Neuronal's HTTP API; it needs only httpx and httpx-sse."""

from neuronal_client.client import *  # noqa: F403
from neuronal_client.client import NeuronalClient

__all__ = ["NeuronalClient"]
