Feature: The chat page served by mlxk serve
  mlx-knife 1.x shipped a chat page users opened in a browser. `mlxk serve` serves one
  at / and /chat: a single static page that talks only to the server's own OpenAI API.
  These scenarios drive it in headless Chromium against a real server with tiny models.

  Scenario: The page is self-contained and locked to its own server
    # spec: SRV-WEB-PAGE
    Given a running server with the web chat models
    When I GET "/chat"
    Then the HTTP status is 200
    And the response header "Content-Security-Policy" is "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    And the page and its assets refer to no other host
    And the OpenAPI document does not list the page

  Scenario: Pick a model, send a message, read the answer
    # spec: SRV-WEB-CHAT
    Given the chat page is open in a browser
    Then the model picker offers "mlx-community/TinyLlama-Chat-4bit" described as "context 4,096"
    And the model picker offers "mlx-community/TinyQwen3-Think-4bit" described as "reasons"
    When I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the answer reads "Hello! I am a tiny test model, happy to help."
    And the message has no reasoning section
    And a screenshot of the page is saved

  Scenario: The answer streams in token by token
    # spec: SRV-WEB-STREAM
    Given the chat page is open in a browser
    When I set max tokens to 300
    And I pick "mlx-community/TinyLlama-Base" and send "Count"
    Then the answer was shown in at least 5 growing steps before it was complete
    And the message notes "stopped at the token limit"

  Scenario: Reasoning is shown apart from the answer, in a section that folds
    # spec: SRV-WEB-REASONING
    Given the chat page is open in a browser
    When I pick "mlx-community/TinyQwen3-Think-4bit" and send "hi"
    Then the answer reads "Hi there, nice to meet you!"
    And the reasoning section reads "The user greets me so I answer briefly."
    And the reasoning section folds and unfolds when its title is clicked

  Scenario: The stop button ends the stream and the server stops generating
    # spec: SRV-WEB-STOP
    Given the chat page is open in a browser
    When I set max tokens to 4000
    And I note how many tokens the server has generated
    And I pick "mlx-community/TinyLlama-Base" and send "Count" without waiting
    And I press Stop once the answer has started
    Then the message is marked stopped
    And the server stops generating for the client that left
    And it generated far fewer tokens than the 4000 asked for
    And the next message gets an answer again

  Scenario: The conversation is kept until it is cleared
    # spec: SRV-WEB-HISTORY
    Given the chat page is open in a browser
    When I pick "mlx-community/TinyLlama-Chat-4bit" and send "I like banana"
    And I send "hi"
    Then the answer reads "You mentioned the fruit earlier."
    When I press Clear
    Then the conversation is empty
    When I send "hi"
    Then the answer reads "Hello! I am a tiny test model, happy to help."

  Scenario: The system prompt and max tokens reach the model
    # spec: SRV-WEB-SETTINGS
    Given the chat page is open in a browser
    When I set the system prompt to "Think of a banana."
    And I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the answer reads "You mentioned the fruit earlier."
    When I set max tokens to 3
    And I send "hi"
    Then the message notes "3 tokens"
    And the message notes "stopped at the token limit"

  Scenario: An error from the API is shown readably and the message can be sent again
    # spec: SRV-WEB-ERRORS
    Given the chat page is open in a browser
    When I set the temperature to -1
    And I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the page shows the error "temperature"
    And the prompt box holds "hi" again

  Scenario: A server with an API key: the key is asked for and kept in the tab only
    # spec: SRV-WEB-APIKEY
    Given a running server with the web chat models and API key "s3cret"
    And the chat page is open in a browser
    Then the page shows the error "API key"
    When I enter the API key "s3cret"
    And I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the answer reads "Hello! I am a tiny test model, happy to help."
    And the API key is in the tab's session storage only

  Scenario: Model output is rendered as Markdown with its HTML shown as text
    # spec: SRV-WEB-INJECTION
    Given the chat page is open in a browser
    When I pick "mlxk-test/Markup-Chat" and send "hi"
    Then the answer reads "Some bold text: <script>alert(1)</script> and <img src=x onerror=alert(2)> end"
    And the answer shows "bold" in bold
    And the conversation holds no script or image element
    And no script from the model ran

  Scenario: The page works on a phone-width screen
    # spec: SRV-WEB-MOBILE
    Given the chat page is open in a browser 390 pixels wide
    When I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the answer reads "Hello! I am a tiny test model, happy to help."
    And nothing on the page is wider than the screen
    And the message box and the Send button are on screen
    And every control has an accessible name
    And a screenshot of the page is saved

  Scenario: Tool calls show as calls, and their results get the answer
    # spec: SRV-WEB-TOOLS
    Given the chat page is open in a browser
    When I offer the tools in Settings:
      """
      [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
      """
    And I pick "mlx-community/TinyQwen3-Tools-4bit" and send "What is the weather?"
    Then the message shows a call to "get_weather" with the arguments {"city": "Paris"}
    When I answer the call with '{"sky": "sunny"}'
    Then the answer reads "It is sunny in Paris today."

  Scenario: Tools that are not JSON are an error on the page, not a request
    # spec: SRV-WEB-TOOLS
    Given the chat page is open in a browser
    When I offer the tools in Settings:
      """
      [{"type": "function"
      """
    And I type "What is the weather?" and press Enter
    Then the page shows a tools error and sends nothing

  Scenario: With several models resident, the picker marks each loaded one after an answer
    # spec: SRV-RESIDENT-REPORT
    Given a running server with the web chat models keeping 2 models loaded
    And the chat page is open in a browser
    When I pick "mlx-community/TinyLlama-Chat-4bit" and send "hi"
    Then the answer reads "Hello! I am a tiny test model, happy to help."
    When I pick "mlx-community/TinyQwen3-Think-4bit" and send "hi"
    Then the answer reads "Hi there, nice to meet you!"
    And the model picker offers "mlx-community/TinyLlama-Chat-4bit" described as "loaded"
    And the model picker offers "mlx-community/TinyQwen3-Think-4bit" described as "loaded"
