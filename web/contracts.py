"""The written contracts, served as they are kept in the repository."""

from __future__ import annotations

from faust.web import Request, Response

from streamapp.app import app
from users_service import contracts
from web.responses import ApiView


@app.page("/users/v1/openapi.json")
class OpenApiView(ApiView):
    """OpenAPI 3.1 of every HTTP endpoint."""

    async def get(self, request: Request) -> Response:
        return self.json(contracts.load("openapi"))


@app.page("/users/v1/asyncapi.json")
class AsyncApiView(ApiView):
    """AsyncAPI 3.0 of the topics."""

    async def get(self, request: Request) -> Response:
        return self.json(contracts.load("asyncapi"))
