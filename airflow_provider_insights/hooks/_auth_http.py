"""The HTTP client msal talks to Entra ID through.

msal accepts any object with msal's ``HttpClient`` shape (``get``/``post`` returning a response
with ``status_code``, ``text``, ``headers`` and ``raise_for_status``, plus ``close``); a
``requests.Response`` already has that shape, so this adapter only decides *how* each request
is sent:

* ``verify``, ``proxies`` and a timeout go on every request, because requests lets
  ``REQUESTS_CA_BUNDLE`` override ``Session.verify`` but never an explicit ``verify=`` argument;
* URLs that msal builds from the authority's *hostname* (user-realm discovery is
  ``https://{hostname}/common/userrealm/...``) lose the authority's port, so the port is put back
  for that host, which is what lets an authority on a non-443 port (a sovereign proxy, the
  sandbox) serve the ROPC flow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)


class MsalHttpClient:
    """A ``requests.Session`` wrapper with msal's ``HttpClient`` interface.

    :param authority: the authority URL (``https://host[:port]/tenant``) whose port is restored on
        URLs msal builds from its bare hostname.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path; sent on every request.
    :param proxies: proxies by scheme, sent on every request.
    :param timeout: seconds allowed for each request, unless msal asks for another.
    """

    def __init__(
        self,
        *,
        authority: str,
        verify: bool | str = True,
        proxies: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(authority)
        self._authority_hostname = (parts.hostname or "").lower()
        self._authority_port = parts.port
        self._verify = verify
        self._proxies = dict(proxies or {})
        self._timeout = timeout
        self._session: requests.Session | None = None

    def get(self, url: str, params: Any = None, headers: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Send a GET, as msal's ``HttpClient.get``.

        :param url: the URL msal built.
        :param params: query parameters.
        :param headers: request headers.
        :param kwargs: other ``requests`` arguments msal relays.
        """
        return self._request("GET", url, params=params, headers=headers, **kwargs)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Send a POST, as msal's ``HttpClient.post``.

        :param url: the URL msal built.
        :param params: query parameters.
        :param data: the form body (a dict, url-encoded by requests) or a string sent as is.
        :param headers: request headers.
        :param kwargs: other ``requests`` arguments msal relays.
        """
        return self._request("POST", url, params=params, data=data, headers=headers, **kwargs)

    def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def restore_authority_port(self, url: str) -> str:
        """Put the authority's explicit port back on a URL msal built from the authority's hostname.

        :param url: a URL msal is about to request.
        """
        if self._authority_port is None:
            return url
        parts = urlsplit(url)
        if parts.port is not None or (parts.hostname or "").lower() != self._authority_hostname:
            return url
        netloc = f"{parts.netloc}:{self._authority_port}"
        restored = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        # The path may hold the user name (user-realm discovery): log the host only.
        log.debug("Restored the authority port on a request to %s", netloc)
        return restored

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        from airflow_provider_insights.hooks.request_parts import proxies_for
        from airflow_provider_insights.hooks.transport_config import config_error_for

        url = self.restore_authority_port(url)
        kwargs["verify"] = self._verify
        # The session ignores the environment, so its proxies (honouring NO_PROXY) are applied here.
        kwargs["proxies"] = proxies = proxies_for(url, self._proxies)
        kwargs.setdefault("timeout", self._timeout)
        try:
            return self._get_session().request(method, url, **kwargs)
        except (requests.RequestException, OSError):
            # A setting that cannot work (CA bundle, proxy, authority URL) is said so, never taken
            # for Entra ID being unreachable (which the request flow retries).
            problem = config_error_for(url, url_field="authority_host", verify=self._verify, proxies=proxies)
            if problem is not None:
                raise problem from None
            raise

    def _get_session(self) -> requests.Session:
        if self._session is None:
            import requests

            session = requests.Session()
            # No .netrc (it could add credentials to the token endpoint), no environment proxies or CA
            # bundle: verify and proxies come from the connection only, as on the API sessions.
            session.trust_env = False
            self._session = session
        return self._session
