"""Every model call: the configured endpoints, the embedded server, the metered, cached and retried caller, progress."""

from .client import Caller, JsonReply, Objection, Sampling, extract_json
from .embedded import QWEN_FILE, SMOLLM_FILE, EmbeddedServer, default_gguf
from .endpoints import ConfiguredModels, EmbeddedModels, Endpoint, ModelProvider, find_config, open_models, parse_config_list
from .progress import OnProgress, Progress, StepMeter, TimeLeft, duration
from .serving import cache_folder, check_folder, interrupts_cancel, make_caller, serving

__all__ = ["Caller", "ConfiguredModels", "EmbeddedModels", "EmbeddedServer", "Endpoint", "JsonReply", "ModelProvider", "Objection",
           "OnProgress", "Progress", "QWEN_FILE", "SMOLLM_FILE", "Sampling", "StepMeter", "TimeLeft", "cache_folder",
           "check_folder", "default_gguf", "duration", "extract_json", "find_config", "interrupts_cancel", "make_caller",
           "open_models", "parse_config_list", "serving"]
