"""api.errors.service_error_handler: the one place where a domain error becomes an HTTP status."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import service_error_handler
from api.services import errors


def app_raising(error: Exception) -> TestClient:
    app = FastAPI()
    app.add_exception_handler(errors.ServiceError, service_error_handler)

    @app.get("/")
    def fail() -> None:
        raise error

    return TestClient(app)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NotFound("experiment 7 not found"), 404),
        (errors.Forbidden("not yours"), 403),
        (errors.Conflict("experiment 7 is already completed"), 409),
        (errors.LimitExceeded("max_queued limit"), 429),
        (errors.BadRequest("cannot sort by 'x'"), 400),
    ],
)
def test_each_domain_error_has_its_status_and_says_why(error, code):
    response = app_raising(error).get("/")
    assert response.status_code == code
    assert response.json() == {"detail": str(error)}


def test_invalid_is_422_naming_the_field_like_a_validation_error():
    response = app_raising(errors.Invalid.query("metrics", "unknown metrics ['x']")).get("/")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["query", "metrics"], "msg": "unknown metrics ['x']", "type": "value_error"}
        ]
    }


def test_a_subclass_takes_its_parents_status():
    class GoneMeanwhile(errors.NotFound):
        pass

    assert app_raising(GoneMeanwhile("deleted meanwhile")).get("/").status_code == 404
