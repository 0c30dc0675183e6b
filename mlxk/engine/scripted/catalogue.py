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
    ``when`` names a trigger (or several); ``when_on`` says whether it must have been
    seen or not. Triggers not named are off when the script starts.
    """

    text: str
    entry: str | None = None
    when: str | tuple[str, ...] | None = None
    when_on: bool = True

    def flags_at_start(self) -> tuple[str, ...]:
        if not self.when_on or self.when is None:
            return ()
        return (self.when,) if isinstance(self.when, str) else self.when


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


# Tool calls the tool models make, each one added token (so a script can say it in
# one step); the formats around them are the real families' formats.
WEATHER_ARGS = '{"city": "Paris"}'
HERMES_PARIS = '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
HERMES_LONDON = '\n{"name": "get_weather", "arguments": {"city": "London"}}\n'
LLAMA3_PARIS = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
MISTRAL_PARIS = '[{"name": "get_weather", "arguments": {"city": "Paris"}}]'

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
    plain_added=("\n\n", "ipython", "Given the following functions", LLAMA3_PARIS),
    post_bos=True,
)
CHATML = Family(
    name="chatml",
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
    bos=None,
    eos="<|im_end|>",
    extra_eos=("<|endoftext|>",),
    pad="<|endoftext|>",
    plain_added=(
        "\n\n",
        "<tools>",
        "<tool_call>",
        "</tool_call>",
        "<tool_response>",
        HERMES_PARIS,
        HERMES_LONDON,
    ),
)
# A ChatML model whose reasoning markers are not a built-in family's: plain added tokens
# <reflect>/</reflect>, split only once configured (mlxk.cache.markers).
REFLECT = Family(
    name="reflect",
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    bos=None,
    eos="<|im_end|>",
    extra_eos=("<|endoftext|>",),
    pad="<|endoftext|>",
    plain_added=("\n\n", "<reflect>", "</reflect>"),
)
MISTRAL = Family(
    name="mistral",
    special_tokens=(
        "<unk>",
        "<s>",
        "</s>",
        "[INST]",
        "[/INST]",
        "[TOOL_CALLS]",
        "[AVAILABLE_TOOLS]",
        "[/AVAILABLE_TOOLS]",
        "[TOOL_RESULTS]",
        "[/TOOL_RESULTS]",
    ),
    bos="<s>",
    eos="</s>",
    pad="<unk>",
    plain_added=(MISTRAL_PARIS,),
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
        "<|constrain|>",
    ),
    bos="<|startoftext|>",
    eos="<|return|>",
    extra_eos=("<|call|>", "<|endoftext|>"),
    pad="<|endoftext|>",
    plain_added=("namespace functions", " to=functions.get_weather", " to=assistant", WEATHER_ARGS),
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
REFLECT_REASONING = "A greeting deserves a friendly reply."
REFLECT_ANSWER = "Hello, friend!"
HARMONY_REASONING = "The user says hello, so I reply kindly."
HARMONY_ANSWER = "Hello from the harmony model!"
COUNTING = " one two three four five six seven eight nine ten"
TOOL_ANSWER = "It is sunny in Paris today."
SHY_REPLY = 'I would rather just say "hello" to you.'
TOOLS_ANSWER = "Sunny in Paris, rainy over London."
MARKUP_REPLY = "Some **bold** text: <script>alert(1)</script> and <img src=x onerror=alert(2)> end"

# Tool-calling models: with tools offered they call get_weather(city="Paris"); given
# the tool's result they answer from it.
TOOL_MODELS = (
    TinyModel(
        key="qwen3-tools",
        architecture="llama",
        family=CHATML,
        chat_template=templates.CHATML_TOOLS,
        scripts=(
            Script("\n" + CHAT_REPLY + "<|im_end|>", entry="\n"),
            Script(f"\n<tool_call>{HERMES_PARIS}</tool_call><|im_end|>", entry="\n", when="tools"),
            Script(f"\n{TOOL_ANSWER}<|im_end|>", entry="\n", when=("tools", "response")),
        ),
        default_next="Hello",
        triggers={"tools": ("seen", ("<tools>",)), "response": ("seen", ("<tool_response>",))},
        description="Qwen/Hermes-style tool caller: <tool_call> JSON </tool_call>.",
    ),
    TinyModel(
        key="qwen3-tools-parallel",
        architecture="llama",
        family=CHATML,
        chat_template=templates.CHATML_TOOLS,
        scripts=(
            Script(
                f"\n<tool_call>{HERMES_PARIS}</tool_call><tool_call>{HERMES_LONDON}</tool_call>"
                "<|im_end|>",
                entry="\n",
                when="tools",
            ),
            Script(
                f"\n{TOOLS_ANSWER}<|im_end|>",
                entry="\n",
                when=("tools", "response", "paris", "london"),
            ),
        ),
        default_next="Hello",
        triggers={
            "tools": ("seen", ("<tools>",)),
            "response": ("seen", ("<tool_response>",)),
            "paris": ("seen", (HERMES_PARIS,)),
            "london": ("seen", (HERMES_LONDON,)),
        },
        description="Hermes-style tool caller that makes two calls at once.",
    ),
    TinyModel(
        key="qwen3-tools-shy",
        architecture="llama",
        family=CHATML,
        chat_template=templates.CHATML_TOOLS,
        scripts=(Script("\n" + SHY_REPLY + "<|im_end|>", entry="\n"),),
        default_next="Hello",
        description="Takes tools in its template but never calls one by itself.",
    ),
    TinyModel(
        key="llama3-tools",
        architecture="llama",
        family=LLAMA3,
        chat_template=templates.LLAMA3_TOOLS,
        scripts=(
            Script("\n\n" + LLAMA3_PARIS + "<|eot_id|>", entry="\n\n", when="tools"),
            Script("\n\n" + TOOL_ANSWER + "<|eot_id|>", entry="\n\n", when=("tools", "response")),
        ),
        default_next="Hello",
        triggers={
            "tools": ("seen", ("Given the following functions",)),
            "response": ("seen", ("ipython",)),
        },
        description="Llama 3.1-style tool caller: a bare JSON object with parameters.",
    ),
    TinyModel(
        key="mistral-tools",
        architecture="llama",
        family=MISTRAL,
        chat_template=templates.MISTRAL_TOOLS,
        scripts=(
            Script("[/INST][TOOL_CALLS]" + MISTRAL_PARIS + "</s>", entry="[/INST]"),
            Script("[/TOOL_RESULTS]" + TOOL_ANSWER + "</s>", entry="[/TOOL_RESULTS]"),
        ),
        default_next="Hello",
        description="Mistral-style tool caller: [TOOL_CALLS] and a JSON list.",
    ),
    TinyModel(
        key="harmony-tools",
        architecture="llama",
        family=HARMONY,
        chat_template=templates.HARMONY_TOOLS,
        scripts=(
            Script(
                "assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
                f"<|message|>{WEATHER_ARGS}<|call|>",
                entry="assistant",
                when="tools",
            ),
            Script(
                f"assistant<|channel|>final<|message|>{TOOL_ANSWER}<|return|>",
                entry="assistant",
                when=("tools", "response"),
            ),
        ),
        default_next="<|channel|>",
        triggers={
            "tools": ("seen", ("namespace functions",)),
            "response": ("seen", (" to=assistant",)),
        },
        description="gpt-oss-style tool caller: a commentary message to=functions.NAME.",
    ),
)

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
            key="reflect",
            architecture="qwen3",
            family=REFLECT,
            chat_template=templates.CHATML,
            scripts=(
                Script(
                    f"\n<reflect>{REFLECT_REASONING}</reflect>\n\n{REFLECT_ANSWER}<|im_end|>",
                    entry="\n",
                ),
            ),
            default_next="<reflect>",
            description="Reasoning model with markers of its own: <reflect>…</reflect>.",
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
        *TOOL_MODELS,
    )
}
