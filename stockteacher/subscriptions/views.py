"""`/api/subscriptions` (API.md): parse, call `subscriptions.service`, answer."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from stockteacher.api.deps import Caller, Db
from stockteacher.api.errors import ErrorOut, documented
from stockteacher.subscriptions import service
from stockteacher.subscriptions.models import SubscriptionIn, SubscriptionOut, SubscriptionPatch
from stockteacher.tickers.models import TickerOut

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])
NOT_FOUND = documented(404, "no such subscription of yours")


class AmbiguousOut(ErrorOut):
    """409: `candidates` are the tickers a name could mean (empty for a duplicate)."""

    candidates: list[TickerOut] = []


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(db: Db, caller: Caller) -> list[SubscriptionOut]:
    return [SubscriptionOut.model_validate(row) for row in service.list_for(caller, db_session=db)]


@router.post(
    "",
    response_model=SubscriptionOut,
    status_code=201,
    responses={
        **documented(404, "neither a ticker nor the name of a company we know"),
        **documented(409, "already subscribed, or a name that could be several tickers", AmbiguousOut),
    },
)
def create_subscription(body: SubscriptionIn, db: Db, caller: Caller) -> SubscriptionOut:
    row = service.create(caller, body.ticker, body.alert_window, db_session=db)
    return SubscriptionOut.model_validate(row)


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
def update_subscription(subscription_id: str, body: SubscriptionPatch, db: Db, caller: Caller) -> SubscriptionOut:
    row = service.update_window(caller, subscription_id, body.alert_window, db_session=db)
    return SubscriptionOut.model_validate(row)


@router.delete("/{subscription_id}", status_code=204, responses=NOT_FOUND)
def delete_subscription(subscription_id: str, db: Db, caller: Caller) -> Response:
    service.delete(caller, subscription_id, db_session=db)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
