Feature: Several models resident at once
  `mlxk serve --max-models N` keeps up to N chat models loaded, each with its own batch,
  their decode steps taken in turn; `--memory-budget` bounds them together. A request
  for a model that does not fit unloads the least recently used idle model, never one
  with requests in flight. A request's keep_alive (ollama's) overrides --idle-unload.

  Scenario Outline: Interleaved requests to resident models answer as each does alone, without reloads
    # spec: SRV-RESIDENT
    Given a running server of its own keeping <count> models loaded
    When each of "<models>" answers alone
    And 2 clients per model ask "<models>" at once, interleaved
    Then every answer is what its model said alone
    And no model was loaded again
    And /health counts <count> loads

    Examples:
      | count | models                                                           |
      | 2     | TinyLlama-Chat-4bit, TinyQwen3-Think-4bit                        |
      | 3     | TinyLlama-Chat-4bit, TinyQwen3-Think-4bit, tiny-gpt-oss-harmony  |

  Scenario: The least recently used idle model gives way
    # spec: SRV-RESIDENT-LRU
    Given a running server of its own keeping 2 models loaded
    When the openai client asks "TinyLlama-Chat-4bit, TinyQwen3-Think-4bit, TinyLlama-Chat-4bit" in turn
    Then /health lists "TinyQwen3-Think-4bit, TinyLlama-Chat-4bit" loaded, in that order
    When the openai client asks "tiny-gpt-oss-harmony" in turn
    Then /health lists "TinyLlama-Chat-4bit, tiny-gpt-oss-harmony" loaded, in that order
    And the last eviction unloaded "TinyQwen3-Think-4bit" for "tiny-gpt-oss-harmony" because of max_models
    And /health counts 3 loads

  Scenario: A model with a request in flight is never unloaded for another
    # spec: SRV-RESIDENT-BUSY
    Given a running server of its own keeping 1 models loaded
    When each of "TinyLlama-Chat-4bit" answers alone
    And one client streams "TinyLlama-Base" for 3000 tokens and, once it has started, another asks "TinyLlama-Chat-4bit"
    Then the stream ran to its 3000 tokens and "TinyLlama-Chat-4bit" answered after it

  Scenario: A budget too small for two models falls back to swapping, and says so
    # spec: SRV-RESIDENT-BUDGET
    Given a running server of its own keeping 2 models loaded in a budget that holds "TinyLlama-Chat-4bit" or "TinyQwen3-Think-4bit" but not both
    When the openai client asks "TinyLlama-Chat-4bit, TinyQwen3-Think-4bit" in turn
    Then /health lists "TinyQwen3-Think-4bit" loaded, in that order
    And /health counts 1 evictions for memory
    And the last eviction unloaded "TinyLlama-Chat-4bit" for "TinyQwen3-Think-4bit" because of memory

  Scenario: keep_alive 0 unloads the model once its request is done
    # spec: SRV-KEEP-ALIVE
    Given a running server of its own keeping 2 models loaded
    When a client asks "mlx-community/TinyLlama-Chat-4bit" with keep_alive 0
    Then the HTTP status is 200
    And within 5 seconds /health no longer lists "TinyLlama-Chat-4bit"

  Scenario Outline: keep_alive -1 (or a long duration) outlives --idle-unload
    # spec: SRV-KEEP-ALIVE
    Given a running server of its own keeping 2 models loaded and unloading after 0.5 seconds idle
    When a client asks "mlx-community/TinyLlama-Chat-4bit" with keep_alive <value>
    And the openai client asks "TinyQwen3-Think-4bit" in turn
    Then after 1.5 seconds /health lists "TinyLlama-Chat-4bit" and not "TinyQwen3-Think-4bit"

    Examples:
      | value  |
      | -1     |
      | "-1"   |
      | "1h"   |
      | 3600   |

  Scenario: keep_alive holds for the request that sets it; the next one without it is back to --idle-unload
    # spec: SRV-KEEP-ALIVE
    Given a running server of its own keeping 2 models loaded and unloading after 0.5 seconds idle
    When a client asks "mlx-community/TinyLlama-Chat-4bit" with keep_alive -1
    And the openai client asks "TinyLlama-Chat-4bit" in turn
    Then within 5 seconds /health no longer lists "TinyLlama-Chat-4bit"

  Scenario Outline: A keep_alive that is not a duration is a 400 naming it
    # spec: SRV-KEEP-ALIVE-BAD
    Given a running server on the standard fixture cache
    When a client asks "mlx-community/TinyLlama-Chat-4bit" with keep_alive <value>
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "invalid_request"
    And the error names the parameter "keep_alive"

    Examples:
      | value      |
      | true       |
      | "soon"     |
      | "5 min"    |
      | [5]        |
      | {"s": 5}   |

  Scenario: /health, /v1/models and /metrics report each resident model
    # spec: SRV-RESIDENT-REPORT
    Given a running server of its own keeping 2 models loaded with metrics on
    When the openai client asks "TinyLlama-Chat-4bit, TinyQwen3-Think-4bit" in turn
    Then /v1/models marks "TinyLlama-Chat-4bit, TinyQwen3-Think-4bit" loaded with their memory
    And /metrics counts tokens and memory for "TinyLlama-Chat-4bit, TinyQwen3-Think-4bit" each

  Scenario: A resident model answers while another streams, and /health shows the one in flight
    # spec: SRV-RESIDENT-REPORT
    Given a running server of its own keeping 2 models loaded
    When each of "TinyLlama-Chat-4bit" answers alone
    And one client streams "TinyLlama-Base" for 3000 tokens and, once it has started, another asks "TinyLlama-Chat-4bit"
    Then "TinyLlama-Chat-4bit" answered while the stream of 3000 tokens ran
    And /health showed "mlx-community/TinyLlama-Base" with 1 request in flight meanwhile
    # least recently used: the chat model, asked after the stream began but done before it
    When the openai client asks "tiny-gpt-oss-harmony" in turn
    Then /health lists "TinyLlama-Base, tiny-gpt-oss-harmony" loaded, in that order
    And the last eviction unloaded "TinyLlama-Chat-4bit" for "tiny-gpt-oss-harmony" because of max_models

  Scenario Outline: A bad --max-models or --memory-budget is one line
    # spec: SRV-RESIDENT-BUDGET
    When I run "mlxk serve <flags> --no-supervise"
    Then the exit code is 2
    And stderr contains "<message>"

    Examples:
      | flags                | message                                       |
      | --max-models 0       | is not 1 or more                              |
      | --max-models two     | is not a whole number                         |
      | --memory-budget 1.5  | is not a fraction of RAM between 0 and 1      |
      | --memory-budget lots | is not a size (e.g. 12GB) or a fraction of RAM |
