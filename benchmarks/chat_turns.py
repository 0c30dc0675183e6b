"""A 10-turn chat: does turn 10 cost what turn 1 costs? (KV reuse across turns, measured)

A client that resends the whole history each turn (as every OpenAI client does) talks
to ``mlxk serve`` with the prompt cache on (the default) and off (``--prompt-cache 0``);
the interactive ``mlxk run -i`` session (its engine, in this process) does the same
turns. Each row is one turn: its prompt length, how much of it was cached and the
time to first token. A long system prompt makes the history grow from the first turn.

    python benchmarks/chat_turns.py [--preset 26m] [--turns 10] [--tokens 24] [--quick]

Target (issues 4 and 7): TTFT of turn 10 <= 1.5x turn 1 with the prompt cache on.
"""

from __future__ import annotations

import argparse

from _common import device, server, stream_chat, synthetic_cache, table, verdict

SYSTEM = " ".join(
    f"Rule {i}: answer briefly, kindly and truthfully about the capital of France."
    for i in range(1, 25)
)
QUESTIONS = [
    "Hello there.",
    "Tell me a story.",
    "What is the capital of France?",
    "Count from one to ten.",
    "Who are you?",
    "Tell me about the sea.",
    "Say hello again.",
    "What did I ask first?",
    "Tell me a story about a cat.",
    "Thank you, goodbye.",
]


def server_turns(srv, turns: int, tokens: int, system: str = SYSTEM):
    history = [{"role": "system", "content": system}]
    rows = []
    for i in range(turns):
        history.append({"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]})
        measured = stream_chat(srv, history, tokens)
        history.append({"role": "assistant", "content": measured.text})
        rows.append((measured.ttft, measured.cached_tokens))
    return rows


def session_turns(bench, turns: int, tokens: int):
    """The engine session behind `mlxk run -i`: history kept, KV cache reused."""
    from mlxk.cli.commands.run import RunOptions
    from mlxk.engine.session import session_for

    rows = []
    with session_for(bench.name, bench.snapshot) as session:
        session.generate([{"role": "user", "content": "hi"}], RunOptions("", max_tokens=4))
        cache = session.new_prompt_cache()  # as the chat loop does
        history = [{"role": "system", "content": SYSTEM}]
        for i in range(turns):
            history.append({"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]})
            options = RunOptions(prompt="", max_tokens=tokens, temperature=0.0)
            completion = session.generate(history, options, prompt_cache=cache)
            history.append({"role": "assistant", "content": completion.text})
            rows.append((completion.timings.time_to_first_token_s, completion.usage.cached_tokens))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="26m")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="tiny model, 3 turns")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.turns, args.tokens = "tiny", 3, 8

    with synthetic_cache(args.preset) as bench:
        results = {}
        with server("mlxk", bench) as srv:
            server_turns(srv, 1, 4, system="Warm up.")  # turn 1 below stays cold
            results["serve, prompt cache on"] = server_turns(srv, args.turns, args.tokens)
        with server("mlxk", bench, extra=["--prompt-cache", "0"]) as srv:
            server_turns(srv, 1, 4, system="Warm up.")
            results["serve, prompt cache off"] = server_turns(srv, args.turns, args.tokens)
        results["run -i session"] = session_turns(bench, args.turns, args.tokens)

    labels = list(results)
    rows = []
    for turn in range(args.turns):
        row = [turn + 1]
        for label in labels:
            ttft, cached = results[label][turn]
            row += [ttft * 1000, cached]
        rows.append(row)
    header = ["turn"]
    for label in labels:
        header += [f"{label}: TTFT ms", "cached"]
    print(f"device: {device()}  model: synthetic {args.preset}  {args.tokens} tokens per answer")
    print(f"system prompt of {len(SYSTEM.split())} words; each turn resends the whole history\n")
    print(table(header, rows))
    checks = []
    for label in labels:
        first, last = results[label][0][0], results[label][-1][0]
        target = label != "serve, prompt cache off"
        name = f"{label}: TTFT turn {args.turns} / turn 1" + (" (<= 1.5)" if target else "")
        checks.append((name, last / first, (last / first <= 1.5) if target else None))
    print()
    print(
        table(
            ["check", "measured", "verdict"],
            [[n, v, verdict(ok) if ok is not None else "(reference)"] for n, v, ok in checks],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
