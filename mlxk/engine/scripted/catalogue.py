"""The catalogue of tiny scripted models: families, scripts and the texts they say.

Each :class:`TinyModel` names an architecture, a tokenizer family (its special tokens
and chat template) and the *scripts* it follows under greedy decoding;
:mod:`mlxk.engine.scripted.models` builds one into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlxk.engine.scripted import templates


@dataclass(frozen=True)
class Script:
    """Text the model emits after ``entry`` (a token) when the flag condition holds.

    ``entry=None`` means the script starts from any token without a rule of its own.
    ``when`` names a trigger; ``when_on`` says whether it must have been seen or not.
    """

    text: str
    entry: str | None = None
    when: str | None = None
    when_on: bool = True


@dataclass(frozen=True)
class Family:
    """A tokenizer family: special tokens, their roles and a chat template."""

    name: str
    special_tokens: tuple[str, ...]
    bos: str | None
    eos: str
    extra_eos: tuple[str, ...] = ()
    pad: str | None = None
    plain_added: tuple[str, ...] = ()
    post_bos: bool = False


LLAMA3 = Family(
    name="llama3",
    special_tokens=(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ),
    bos="<|begin_of_text|>",
    eos="<|eot_id|>",
    extra_eos=("<|end_of_text|>",),
    pad="<|end_of_text|>",
    plain_added=("\n\n",),
    post_bos=True,
)
CHATML = Family(
    name="chatml",
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
    bos=None,
    eos="<|im_end|>",
    extra_eos=("<|endoftext|>",),
    pad="<|endoftext|>",
    plain_added=("\n\n",),
)
HARMONY = Family(
    name="harmony",
    special_tokens=(
        "<|startoftext|>",
        "<|endoftext|>",
        "<|return|>",
        "<|start|>",
        "<|end|>",
        "<|message|>",
        "<|channel|>",
        "<|call|>",
    ),
    bos="<|startoftext|>",
    eos="<|return|>",
    extra_eos=("<|call|>", "<|endoftext|>"),
    pad="<|endoftext|>",
)


@dataclass(frozen=True)
class TinyModel:
    key: str
    architecture: str
    family: Family
    chat_template: str | None
    scripts: tuple[Script, ...]
    default_next: str
    triggers: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    context_length: int = 4096
    description: str = ""


CHAT_REPLY = "Hello! I am a tiny test model, happy to help."
CHAT_REPLY_AFTER_BANANA = "You mentioned the fruit earlier."
THINK_REASONING = "The user greets me so I answer briefly."
THINK_ANSWER = "Hi there, nice to meet you!"
HARMONY_REASONING = "The user says hello, so I reply kindly."
HARMONY_ANSWER = "Hello from the harmony model!"
COUNTING = " one two three four five six seven eight nine ten"
MARKUP_REPLY = "Some **bold** text: <script>alert(1)</script> and <img src=x onerror=alert(2)> end"

CATALOGUE: dict[str, TinyModel] = {
    m.key: m
    for m in (
        TinyModel(
            key="llama-chat",
            architecture="llama",
            family=LLAMA3,
            chat_template=templates.LLAMA3,
            scripts=(
                Script(
                    "\n\n" + CHAT_REPLY + "<|eot_id|>", entry="\n\n", when="banana", when_on=False
                ),
                Script(
                    "\n\n" + CHAT_REPLY_AFTER_BANANA + "<|eot_id|>", entry="\n\n", when="banana"
                ),
            ),
            default_next="Hello",
            triggers={"banana": ("seen", ("banana", " banana", "Banana", " Banana"))},
            description="Llama-3-style chat model; mentions of 'banana' change its reply.",
        ),
        TinyModel(
            key="llama-markup",
            architecture="llama",
            family=LLAMA3,
            chat_template=templates.LLAMA3,
            scripts=(Script("\n\n" + MARKUP_REPLY + "<|eot_id|>", entry="\n\n"),),
            default_next="Hello",
            # Repeated tokens (' <', '>', '(') need flags to tell their occurrences apart.
            triggers={
                "script_seen": ("seen", ("script",)),
                "closed": ("seen", (")</",)),
                "onerror_seen": ("seen", (" onerror",)),
            },
            description="Chat model whose reply carries Markdown and HTML (injection tests).",
        ),
        TinyModel(
            key="llama-base",
            architecture="llama",
            family=LLAMA3,
            chat_template=None,
            scripts=(Script(COUNTING.strip() + COUNTING + " one"),),
            default_next=" one",
            description="Base (non-chat) model that counts from one to ten, forever.",
        ),
        TinyModel(
            key="qwen3-think",
            architecture="qwen3",
            family=CHATML,
            chat_template=templates.CHATML,
            scripts=(
                Script(
                    f"\n<think>{THINK_REASONING}</think>\n\n{THINK_ANSWER}<|im_end|>",
                    entry="\n",
                ),
            ),
            default_next="<think>",
            description="Qwen3-style reasoning model: emits <think>…</think> then the answer.",
        ),
        TinyModel(
            key="qwen3-think-open",
            architecture="qwen3",
            family=CHATML,
            chat_template=templates.CHATML_OPEN_THINK,
            scripts=(
                Script(f"\n{THINK_REASONING}</think>\n\n{THINK_ANSWER}<|im_end|>", entry="\n"),
            ),
            default_next="The",
            description="Reasoning model whose template opens <think> in the prompt.",
        ),
        TinyModel(
            key="harmony",
            architecture="llama",
            family=HARMONY,
            chat_template=templates.HARMONY,
            scripts=(
                Script(
                    "assistant<|channel|>analysis<|message|>"
                    f"{HARMONY_REASONING}<|end|><|start|>assistant<|channel|>final<|message|>"
                    f"{HARMONY_ANSWER}<|return|>",
                    entry="assistant",
                ),
            ),
            default_next="<|channel|>",
            triggers={
                "analysis_seen": ("seen", ("analysis",)),
                "after_analysis": ("previous", ("analysis",)),
            },
            description="gpt-oss-style model speaking harmony channels (analysis, final).",
        ),
    )
}
