"""What a snapshot holds: framework, model type, capabilities, context, quantization.

Everything is read from the files (config, tokenizer config, safetensors headers,
README front matter), never guessed from the model's name, except that the
``mlx-community`` organisation only publishes MLX conversions.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

MLX_ORGS = ("mlx-community",)
EMBEDDING_TYPES = {"bert", "xlm-roberta", "roberta", "nomic_bert", "modernbert", "mpnet"}
EMBEDDING_TAGS = {"sentence-transformers", "sentence-similarity", "feature-extraction"}
REASONING_MARKERS = ({"<think>", "</think>"}, {"<|channel|>", "<|message|>"})
_GGUF_QUANT = re.compile(r"(?i)(?:^|[.\-_])((?:IQ|Q)\d[A-Z0-9_]*|F16|F32|BF16)(?=\.gguf$)")


def read_json(path: Path) -> dict | None:
    """Parsed JSON object, or None when missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def front_matter(snapshot: Path) -> dict:
    """The YAML front matter of README.md, read leniently (keys, scalars, lists)."""
    try:
        text = (snapshot / "README.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    result: dict = {}
    key = None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        item = re.match(r"^\s*-\s+(.*)$", line)
        if item and key:
            value = result.get(key)
            result[key] = (value if isinstance(value, list) else []) + [_scalar(item.group(1))]
            continue
        pair = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if pair:
            key, value = pair.group(1), pair.group(2).strip()
            if value.startswith("[") and value.endswith("]"):
                result[key] = [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
            else:
                result[key] = _scalar(value) if value else []
    return result


def _scalar(value: str) -> str:
    return value.strip().strip("'\"")


def safetensors_header(path: Path) -> dict | None:
    """The JSON header of a safetensors file, or None if it is not one."""
    read = safetensors_layout(path)
    return read[1] if read is not None else None


def safetensors_layout(path: Path) -> tuple[int, dict] | None:
    """A safetensors file's header length (as its first 8 bytes say) and JSON header, or
    None if it is not one (or cannot be read)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                return None
            (length,) = struct.unpack("<Q", raw)
            if length <= 0 or length > 100_000_000:
                return None
            header = fh.read(length)
    except OSError:
        return None
    try:
        data = json.loads(header)
    except ValueError:
        return None
    return (length, data) if isinstance(data, dict) else None


def tags_of(fm: dict) -> set[str]:
    return _tags(fm)


def _tags(fm: dict) -> set[str]:
    tags = fm.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    return {str(t).lower() for t in tags}


def detect_framework(
    name: str, snapshot: Path, files: list[Path], fm: dict, config: dict | None
) -> str:
    names = [p.name for p in files]
    if any(n.endswith(".gguf") for n in names):
        return "GGUF"
    library = str(fm.get("library_name", "")).lower()
    if name.split("/")[0] in MLX_ORGS or library == "mlx" or "mlx" in _tags(fm):
        return "MLX"
    if config and isinstance(config.get("quantization"), dict):
        return "MLX"  # MLX writes its quantization under "quantization"
    tensors = [p for p in files if p.name.endswith(".safetensors")]
    for path in tensors[:1]:
        header = safetensors_header(path) or {}
        if (header.get("__metadata__") or {}).get("format") == "mlx":
            return "MLX"
    if tensors or any(n.endswith(".bin") and "pytorch_model" in n for n in names):
        return "PyTorch"
    return "Unknown"


def special_tokens(snapshot: Path, tokenizer_config: dict | None = None) -> set[str]:
    tokens: set[str] = set()
    config = tokenizer_config if tokenizer_config is not None else _tokenizer_config(snapshot)
    for entry in (config.get("added_tokens_decoder") or {}).values():
        if isinstance(entry, dict) and entry.get("special"):
            tokens.add(str(entry.get("content")))
    return tokens


def _tokenizer_config(snapshot: Path) -> dict:
    return read_json(snapshot / "tokenizer_config.json") or {}


def chat_template_of(snapshot: Path, tokenizer_config: dict | None = None) -> str | None:
    config = tokenizer_config if tokenizer_config is not None else _tokenizer_config(snapshot)
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates
        template = next((t.get("template") for t in template if isinstance(t, dict)), None)
    if isinstance(template, str) and template.strip():
        return template
    jinja = snapshot / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8", errors="replace")
    data = read_json(snapshot / "chat_template.json") or {}
    if isinstance(data.get("chat_template"), str):
        return data["chat_template"]
    return None


def detect_model_type(
    config: dict | None, fm: dict, snapshot: Path, tokenizer_config: dict | None = None
) -> str:
    if config is None:
        return "unknown"
    model_type = str(config.get("model_type", "")).lower()
    architectures = " ".join(config.get("architectures") or []).lower()
    if (
        model_type in EMBEDDING_TYPES
        or "embedding" in architectures
        or EMBEDDING_TAGS & (_tags(fm) | {str(fm.get("pipeline_tag", "")).lower()})
        or (snapshot / "modules.json").is_file()
        or (snapshot / "1_Pooling").is_dir()
    ):
        return "embedding"
    if chat_template_of(snapshot, tokenizer_config):
        return "chat"
    return "base"


def capabilities_for(
    model_type: str, snapshot: Path, tokenizer_config: dict | None = None
) -> list[str]:
    if model_type == "embedding":
        return ["embeddings"]
    if model_type == "unknown":
        return []
    caps = ["text-generation"]
    if model_type == "chat":
        caps.append("chat")
    specials = special_tokens(snapshot, tokenizer_config)
    if any(markers <= specials for markers in REASONING_MARKERS):
        caps.append("reasoning")
    return caps


@dataclass(frozen=True)
class Quantization:
    bits: int | None
    group_size: int | None
    mode: str
    precision: str | None

    def to_dict(self) -> dict:
        return {
            "bits": self.bits,
            "group_size": self.group_size,
            "mode": self.mode,
            "precision": self.precision,
        }


_DTYPES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}


def quantization_of(config: dict | None, files: list[Path]) -> Quantization | None:
    ggufs = [p for p in files if p.name.endswith(".gguf")]
    if ggufs:
        match = _GGUF_QUANT.search(ggufs[0].name)
        label = match.group(1).upper() if match else None
        return Quantization(None, None, "gguf", label)
    if not config:
        return None
    quant = config.get("quantization") or config.get("quantization_config")
    if isinstance(quant, dict) and (quant.get("bits") or quant.get("mode")):
        mode = str(quant.get("mode") or quant.get("quant_method") or "affine")
        bits = quant.get("bits")
        precision = mode if mode != "affine" else (f"{bits}bit" if bits else None)
        return Quantization(bits, quant.get("group_size"), mode, precision)
    dtype = config.get("torch_dtype") or config.get("dtype")
    if isinstance(dtype, str) and dtype in _DTYPES:
        return Quantization(None, None, "none", _DTYPES[dtype])
    return None


def gguf_variants(files: list[Path]) -> list[dict]:
    variants = []
    for path in files:
        if path.name.endswith(".gguf"):
            match = _GGUF_QUANT.search(path.name)
            variants.append(
                {
                    "file": path.name,
                    "quantization": match.group(1).upper() if match else None,
                    "size_bytes": _size(path),
                }
            )
    return variants


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
