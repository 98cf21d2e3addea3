"""Every model call: the endpoints of OAI_CONFIG_LIST, the embedded llama.cpp server, the metered, cached and retried caller, serving, progress."""

from .client import Caller, JsonReply, Ledger, Sampling, Usage, extract_json
from .embedded import QWEN_FILE, SMOLLM_FILE, EmbeddedServer, default_gguf
from .endpoints import (
                        ConfiguredModels,
                        EmbeddedModels,
                        Endpoint,
                        ModelDescription,
                        ModelProvider,
                        ModelUse,
                        find_config,
                        open_models,
                        parse_config_list,
)
from .progress import OnProgress, Progress, StepMeter, duration
from .repetition import cut_loop
from .serving import cache_folder, check_folder, interrupts_cancel, make_caller, serving

__all__ = ["Caller", "ConfiguredModels", "EmbeddedModels", "EmbeddedServer", "Endpoint", "JsonReply", "Ledger",
           "ModelDescription", "ModelProvider", "ModelUse", "OnProgress", "Progress", "QWEN_FILE", "SMOLLM_FILE",
           "Sampling", "StepMeter", "Usage", "cache_folder", "check_folder", "cut_loop", "default_gguf", "duration",
           "extract_json", "find_config", "interrupts_cancel", "make_caller", "open_models", "parse_config_list",
           "serving"]
