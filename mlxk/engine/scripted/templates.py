"""Chat templates of the tiny models, modelled on the real families' templates."""

LLAMA3 = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{- message['content'] | trim }}{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

CHATML = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Like DeepSeek-R1 and Qwen3 "thinking" templates: the generation prompt opens <think>.
CHATML_OPEN_THINK = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    # Qwen3's switch: thinking off closes the think block in the prompt
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- else %}{{- '<think>\\n' }}{%- endif %}"
    "{%- endif %}"
)

# gpt-oss harmony: earlier assistant turns keep only their final channel.
HARMONY = (
    "<|start|>system<|message|>You are a tiny harmony model.\n"
    "Reasoning: {{ reasoning_effort | default('low') }}<|end|>"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "<|start|>assistant<|channel|>final<|message|>{{ message['content'] }}<|end|>"
    "{%- elif message['role'] == 'system' %}"
    "<|start|>developer<|message|>{{ message['content'] }}<|end|>"
    "{%- else %}"
    "<|start|>{{ message['role'] }}<|message|>{{ message['content'] }}<|end|>"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|start|>assistant{%- endif %}"
)

# Qwen2.5/Qwen3-style tools: the system turn lists them in <tools>, calls are
# <tool_call> JSON, results come back in a user turn inside <tool_response>.
CHATML_TOOLS = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n{% endif %}"
    "# Tools\n\n<tools>"
    "{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}"
    "\n</tools>\n\nCall a function with a JSON object in <tool_call></tool_call> tags."
    "<|im_end|>\n"
    "{% elif messages[0]['role'] == 'system' %}"
    "<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and loop.first %}"
    "{% elif message['role'] == 'assistant' %}"
    "<|im_start|>assistant\n{{ message['content'] or '' }}"
    "{% for tool_call in message.get('tool_calls') or [] %}"
    "{% if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}"
    '<tool_call>\n{"name": "{{ tool_call.name }}", "arguments": '
    "{{ tool_call.arguments if tool_call.arguments is string else tool_call.arguments | tojson }}"
    "}\n</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% elif message['role'] == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message['content'] }}\n</tool_response><|im_end|>\n"
    "{% else %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Llama 3.1-style tools: listed in the first user turn, a call is a bare JSON object
# {"name", "parameters"}, results come back in an "ipython" turn.
LLAMA3_TOOLS = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' and loop.first and tools %}"
    "{{ '<|start_header_id|>user<|end_header_id|>\\n\\n' }}"
    "Given the following functions, please respond with a JSON for a function call "
    'with its proper arguments. Respond in the format {"name": function name, '
    '"parameters": dictionary of argument name and its value}.\n\n'
    "{% for tool in tools %}{{ tool | tojson }}\n\n{% endfor %}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}"
    "{% elif message['role'] == 'assistant' and message.get('tool_calls') %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% for tool_call in message['tool_calls'] %}"
    "{% set call = tool_call.function %}"
    '{"name": "{{ call.name }}", "parameters": '
    "{{ call.arguments if call.arguments is string else call.arguments | tojson }}}"
    "{% endfor %}{{ '<|eot_id|>' }}"
    "{% elif message['role'] == 'tool' %}"
    "{{ '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}"
    "{% else %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

# Mistral-style tools: [AVAILABLE_TOOLS] before the last user turn, calls after
# [TOOL_CALLS] as a JSON list, results in [TOOL_RESULTS].
MISTRAL_TOOLS = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if tools and loop.last %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]"
    "{% endif %}"
    "[INST]{{ message['content'] }}[/INST]"
    "{% elif message['role'] == 'assistant' and message.get('tool_calls') %}"
    "[TOOL_CALLS]["
    "{% for tool_call in message['tool_calls'] %}"
    '{"name": "{{ tool_call.function.name }}", "arguments": '
    "{{ tool_call.function.arguments if tool_call.function.arguments is string"
    " else tool_call.function.arguments | tojson }}}"
    "{% if not loop.last %}, {% endif %}"
    "{% endfor %}]</s>"
    "{% elif message['role'] == 'tool' %}"
    "[TOOL_RESULTS]{{ message['content'] }}[/TOOL_RESULTS]"
    "{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] }}</s>"
    "{% else %}[INST]{{ message['content'] }}[/INST]"
    "{% endif %}"
    "{% endfor %}"
)

# gpt-oss harmony with tools: the developer turn declares namespace functions, a call
# is a commentary message to=functions.NAME, its result a message from that function.
HARMONY_TOOLS = (
    "<|start|>system<|message|>You are a tiny harmony model.\nReasoning: low<|end|>"
    "{% if tools %}<|start|>developer<|message|># Tools\n\nnamespace functions {{ '{' }}"
    "{% for tool in tools %}\n// {{ tool.function.description }}\n"
    "type {{ tool.function.name }} = (_: {{ tool.function.parameters | tojson }}) => any;"
    "{% endfor %}\n}<|end|>{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' and message.get('tool_calls') %}"
    "{% for tool_call in message['tool_calls'] %}"
    "<|start|>assistant to=functions.{{ tool_call.function.name }}<|channel|>commentary json"
    "<|message|>{{ tool_call.function.arguments }}<|call|>"
    "{% endfor %}"
    "{% elif message['role'] == 'assistant' %}"
    "<|start|>assistant<|channel|>final<|message|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'tool' %}"
    "<|start|>functions.{{ message.get('name') or 'tool' }} to=assistant<|channel|>commentary"
    "<|message|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'system' %}"
    "<|start|>developer<|message|>{{ message['content'] }}<|end|>"
    "{% else %}"
    "<|start|>{{ message['role'] }}<|message|>{{ message['content'] }}<|end|>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
)
