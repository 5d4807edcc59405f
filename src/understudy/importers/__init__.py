"""Import profiles from a LiteLLM Router config: one profile file per ``model_list`` entry.

The conversion is static: it reads the config as data, so it never imports litellm and needs no key. It is
also pure: ``import_litellm_config`` returns the profiles, the TOML text of each and warnings, and
``write_profiles`` writes them. Where each part of a LiteLLM config lands:

=====================================  =======================================================================
LiteLLM                                profile
=====================================  =======================================================================
``model_list[i].model_name``           the profile name (made valid if it is not, and never ``routes`` or
                                       ``tiers``, the router files' names); entries sharing a name are a
                                       load-balanced group: ``<name>``, ``<name>-2`` ..., the others under
                                       the first one's ``fallbacks."*"``; a fallback to the group names all
``litellm_params.api_key``             ``api_key_env`` for ``os.environ/VAR``; a literal key is left out
``litellm_params.api_base``            ``api_base``; ``api_base_env`` for ``os.environ/VAR``; one holding
                                       credentials stops the import, since without it the profile would
                                       call the provider's public endpoint
``litellm_params`` (the rest)          the profile field of that name, else ``params``; keys only LiteLLM's
                                       router acts on (``rpm``, ``tpm`` ...) are left out
``fallbacks``, ``default_fallbacks``   ``fallbacks."*"``
``context_window_fallbacks``           ``fallbacks.ContextWindowExceededError``
``content_policy_fallbacks``           ``fallbacks.ContentPolicyViolationError``
``max_fallbacks``                      how deep the fallbacks' own fallbacks are followed (default 5)
``num_retries``, ``timeout``           each profile's ``num_retries`` and ``timeout`` (its own
                                       ``litellm_params`` win); with no ``num_retries`` anywhere, LiteLLM's
                                       default, 2
``drop_params``                        ``drop_params = true`` in every profile's ``params``, when
                                       ``litellm_settings`` or ``default_litellm_params`` sets it
=====================================  =======================================================================

LiteLLM's Router follows a fallback's own fallbacks; understudy walks one list, the one the primary's error
picks. So each list is the whole walk LiteLLM makes (``run_async_fallback`` in ``litellm/router_utils/
fallback_event_handlers.py``) when every model in it fails with the same kind of error: depth first, each
model group once, never the profile itself, a fallback with no entry of its own going on with the
primary's entry before the ``"*"`` one, and no deeper than ``max_fallbacks``. Where a fallback failing with
another kind of error would make LiteLLM go elsewhere, a warning says where. That is the walk of LiteLLM
1.110's Router; 1.83's differed (it tried a model again when two lists named it, went on with
``default_fallbacks`` after a fallback with no entry of its own, and ignored ``"*"`` in
``context_window_fallbacks`` and ``content_policy_fallbacks``), as ``tests/test_importers.py`` shows.

Router-level settings may sit at the top level (``Router(...)``'s arguments as a dict) or under
``router_settings`` / ``litellm_settings`` (the proxy's ``config.yaml``, where the timeout is
``request_timeout``). A setting given in both keeps ``router_settings``' value, as LiteLLM does.

The package, by concept: ``results`` (what an import gives back), ``litellm_config`` (reading a config and
converting it), ``litellm_model_list`` (``model_list`` entries made into profile names and fields),
``litellm_fallbacks`` (the fallback settings as tables), ``litellm_walk`` (LiteLLM's fallback walk over those
tables) and ``toml_writer`` (profile files).
"""

from __future__ import annotations

from understudy.importers.litellm_config import CONFIG_SUFFIXES, import_litellm_config, read_config
from understudy.importers.results import ImportedProfile, ImportNote, ImportRefusedError, ImportResult
from understudy.importers.toml_writer import WriteReport, profile_toml, write_profiles

__all__ = [
    "CONFIG_SUFFIXES",
    "ImportNote",
    "ImportRefusedError",
    "ImportResult",
    "ImportedProfile",
    "WriteReport",
    "import_litellm_config",
    "profile_toml",
    "read_config",
    "write_profiles",
]
