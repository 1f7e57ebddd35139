"""The 0.1 import path of the SDK hooks, kept so existing code keeps working.

``teamcost.integrations.litellm.TeamcostLogger`` is ``teamcost.capture.sdk.litellm.TeamcostLogger``;
new code imports from ``teamcost.capture.sdk``.
"""
