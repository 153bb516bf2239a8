"""A chatbot behind an OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp, ...).

The bot is the endpoint plus its own system prompt. With a response cache a
rerun replays every reply exactly: the key covers the model's identity, the
whole conversation (system prompt included), the sampling settings and the
seed, and never the endpoint or the key.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import openai

from simulator.domains.chat.chatbots.config import ChatbotConfig, is_loopback, public_url
from simulator.domains.chat.interfaces import BotReply, ChatbotError
from simulator.llm.cache import CachedAnswer, ResponseCache, cache_key

_DETAIL_CHARS = 200  # a failure's detail goes to the trace: keep it a line


def api_key_from_env(env_name: str, base_url: str) -> str:
    """The key in `$env_name`, or a placeholder for a keyless server on this machine.

    Args:
        env_name: the environment variable that holds the key.
        base_url: the endpoint the key is for.

    Returns:
        The key to send.

    Raises:
        ValueError: the variable is unset and the endpoint is not loopback.
    """
    key = os.environ.get(env_name)
    if key:
        return key
    if is_loopback(base_url):
        # Imported here: the server module pulls in litellm, which is slow to load.
        from simulator.llm.server import LOCAL_API_KEY

        return LOCAL_API_KEY
    raise ValueError(
        f"the chatbot at {public_url(base_url)} needs an API key: set the environment "
        f"variable {env_name}, or set api_key_env to the variable that holds it"
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _status_detail(exc: openai.APIStatusError) -> str:
    """'HTTP 500: <the server's own message>'."""
    message = exc.message  # "Error code: 500 - <the whole body>"
    # The SDK keeps the body's "error" object (or the body, if it has none).
    if isinstance(exc.body, dict) and isinstance(exc.body.get("message"), str):
        message = exc.body["message"]
    return _short(f"HTTP {exc.status_code}: {message}")


class OpenAICompatibleChatbot:
    """A model behind an OpenAI-compatible endpoint, with its system prompt.

    Retries (timeouts, connection errors, 429 and 5xx) are the openai SDK's,
    `config.retries` of them with its backoff. Whatever still fails, and an
    empty or malformed reply, raises ChatbotError.
    """

    def __init__(
        self,
        config: ChatbotConfig,
        *,
        name: str,
        base_url: str,
        model: str | None,
        api_key: str,
        identity: str | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        """Set up the bot; nothing connects until the first reply.

        Args:
            config: the system prompt, sampling settings, timeout and retries.
            name: the bot's name in traces and errors.
            base_url: the endpoint, e.g. http://127.0.0.1:8080/v1.
            model: the model to ask for; None asks the server for its first model.
            api_key: the key to send (see `api_key_from_env`).
            identity: what names the model in the cache key (the embedded
                server's weights hash); default: the model name.
            cache: replay answers from here, and store new ones.
        """
        self.config = config
        self.name = name
        self.base_url = base_url
        self.model = model
        self.identity = identity
        self.cache = cache
        self._api_key = api_key
        # Made on first use, so its connections belong to the run's event loop.
        self._client: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def __repr__(self) -> str:
        # Spelled out so the key never shows in a log or a traceback.
        return (
            f"OpenAICompatibleChatbot(name={self.name!r}, model={self.model!r}, "
            f"base_url={public_url(self.base_url)!r})"
        )

    async def respond(self, messages: list[dict[str, str]], *, seed: int) -> BotReply:
        """The bot's reply to the conversation so far, from the cache when it has it.

        Args:
            messages: the conversation, oldest first, as {"role", "content"} dicts.
            seed: sent to the server, and part of the cache key.

        Returns:
            The reply's text, and its completion tokens when the server counts them.

        Raises:
            ChatbotError: the endpoint failed after its retries, or answered
                with nothing usable.
        """
        conversation = [
            {"role": "system", "content": self.config.system_prompt},
            *({"role": m["role"], "content": m["content"]} for m in messages),
        ]
        model = self.model or await self._server_model()
        key = None
        if self.cache is not None:
            key = cache_key(
                model=f"chatbot:{self.identity or model}",
                messages=conversation,
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                seed=seed,
                response_format=None,
            )
            hit = self.cache.get(key)
            if hit is not None:
                # 0 stands for "not counted": a non-empty reply never takes 0 tokens.
                return BotReply(hit.text, hit.completion_tokens or None)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.config.concurrency)
        # Requests beyond the server's slots would queue there with their timeout running.
        async with self._semaphore:
            completion = await self._create(model, conversation, seed)
        text, finish_reason, prompt_tokens, completion_tokens = self._read(completion)
        if self.cache is not None and key is not None:
            self.cache.put(
                key,
                CachedAnswer(
                    text=text,
                    finish_reason=finish_reason,
                    prompt_tokens=prompt_tokens or 0,
                    completion_tokens=completion_tokens or 0,
                ),
            )
        return BotReply(text, completion_tokens)

    async def aclose(self) -> None:
        """Close the HTTP client (the cache belongs to whoever opened it)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._semaphore = None

    def _http(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self.config.timeout_s,
                max_retries=self.config.retries,
            )
        return self._client

    async def _create(self, model: str, conversation: list[dict[str, str]], seed: int) -> Any:
        try:
            return await self._http().chat.completions.create(
                model=model,
                messages=conversation,  # type: ignore[arg-type]
                temperature=self.config.temperature,
                max_tokens=self.config.max_tokens,
                seed=seed,
            )
        except openai.APITimeoutError as exc:
            detail = f"timed out after {self.config.timeout_s:g} s ({self.config.retries} retries)"
            raise ChatbotError(self.name, detail) from exc
        except openai.APIStatusError as exc:
            raise ChatbotError(self.name, _status_detail(exc)) from exc
        except openai.APIConnectionError as exc:
            detail = _short(f"cannot connect to {public_url(self.base_url)}: {exc}")
            raise ChatbotError(self.name, detail) from exc
        except openai.APIError as exc:
            raise ChatbotError(self.name, _short(f"bad response: {exc}")) from exc
        except ValueError as exc:  # the SDK lets a body that is not JSON through as-is
            raise ChatbotError(self.name, _short(f"malformed response: {exc}")) from exc

    def _read(self, completion: Any) -> tuple[str, str | None, int | None, int | None]:
        """Text, finish reason, prompt and completion tokens of a completion."""
        try:
            choice = completion.choices[0]
            text = choice.message.content
            finish_reason = choice.finish_reason
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise ChatbotError(self.name, "malformed response: no choices[0].message") from exc
        if not isinstance(text, str) or not text.strip():
            raise ChatbotError(self.name, f"empty reply (finish_reason {finish_reason!r})")
        usage = getattr(completion, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        return (
            text,
            finish_reason if isinstance(finish_reason, str) else None,
            prompt_tokens if isinstance(prompt_tokens, int) else None,
            completion_tokens if isinstance(completion_tokens, int) else None,
        )

    async def _server_model(self) -> str:
        """The server's first model, asked once: for endpoints that serve one."""
        try:
            page = await self._http().models.list()
            ids = [entry.id for entry in page.data]
        except (openai.APIError, ValueError, AttributeError, TypeError) as exc:
            detail = _short(f"no model configured, and the server's model list failed: {exc}")
            raise ChatbotError(self.name, detail) from exc
        if not ids:
            raise ChatbotError(self.name, "no model configured, and the server lists none")
        self.model = ids[0]
        return self.model
