"""Alias of ``teamcost.capture.sdk.litellm`` (the 0.1 import path of the LiteLLM callback)."""

from teamcost.capture.sdk.litellm import TeamcostLogger

__all__ = ["TeamcostLogger"]
