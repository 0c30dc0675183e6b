Feature: mlxk convert quantizes and converts with mlx-lm into a checked folder
  The conversion is mlx-lm's own; mlxk refuses what it cannot do before any work, and
  checks the result with health --deep.

  Background:
    Given the standard fixture cache

  Scenario Outline: A float model converted is healthy and answers as mlx-lm's own conversion does
    # spec: CACHE-CONVERT
    When I run "mlxk convert TinyLlama-Chat ./out <flags> --json" in the scenario folder
    Then the exit code is 0
    And the output is a valid JSON envelope for "convert"
    And the JSON field "data.model.source" is "path"
    When I run "mlxk health ./out --deep" in the scenario folder
    Then the exit code is 0
    When I run "mlxk run ./out 'Hi there'" in the scenario folder
    Then the exit code is 0
    And the answer equals mlx-lm's own conversion of "mlx-community/TinyLlama-Chat" with "<flags>" asked "Hi there"
    And the folder "out" has a model card naming "mlx-community/TinyLlama-Chat"

    Examples:
      | flags            |
      | --quantize       |
      | --q-bits 8       |
      | --dtype bfloat16 |
      | --q-mode mxfp4   |

  Scenario Outline: What mlx-lm cannot convert is refused before anything is written
    # spec: CACHE-CONVERT
    Given a folder "weird" whose config names the model type "no-such-model"
    And a copy of "mlx-community/TinyLlama-Chat" in the folder "taken"
    And a folder "project" holding only a config.json
    When I run "<command>" in the scenario folder
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "<text>"
    And no folder "out" was written

    Examples:
      | command                                           | text                  |
      | mlxk convert Tiny-Chat-GGUF ./out                 | GGUF                  |
      | mlxk convert TinyLlama-Chat-4bit ./out --quantize | quantized already     |
      | mlxk convert ./weird ./out                        | cannot convert        |
      | mlxk convert tiny-bert-embedder ./out             | embedding model       |
      | mlxk convert TinyLlama-Chat ./taken               | exists                |
      | mlxk convert Tiny-Chat-PyTorch ./out              | no *.safetensors      |
      | mlxk convert TinyLlama-Chat <cache>/out           | in the Hugging Face cache |
      | mlxk convert ./taken ./taken --force              | the source model's folder |
      | mlxk convert TinyLlama-Chat ./project --force     | not a model folder    |
