"""The seeds' design of POST /requests: the baseline goal 1 of the performance issue measures
servicehub against (at least 5x its throughput, at most 1/5 of its p99, side by side in one run;
tools/bench-vs-seeds).

What the seeds' Python design documents (shared/seeds/) describe for creating a request, on their
stack: FastAPI, pydantic, synchronous SQLAlchemy (the seeds' `create_request(data)` is a plain
function; no AsyncSession anywhere) with psycopg, kafka-python with `acks='all'`:
validate the body, insert one row and commit (`save_to_db`), publish `request.created` keyed by
the request id and wait for the broker's acknowledgement, answer 201 with the row. No auth (the
seeds' API gateway did that elsewhere), no outbox, no idempotency keys, no history or audit.

It keeps to its own database (`seeds_design` on the same PostgreSQL) and its own topic
(`seeds-design.request-events`), so it never touches servicehub's tables or consumers.
`python app.py setup` creates both when missing (tools/seeds-design/run does, before uvicorn).

Environment: DATABASE_URL (any database of the server; `seeds_design` is used beside it),
KAFKA_BOOTSTRAP_SERVERS, SEEDS_DESIGN_DATABASE, SEEDS_DESIGN_TOPIC.
"""

import json
import logging
import os
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Literal, Optional
from urllib.parse import urlsplit, urlunsplit

from fastapi import Depends, FastAPI, Request, Response, status
from kafka import KafkaProducer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, DateTime, String, Text, create_engine, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE = os.environ.get("SEEDS_DESIGN_DATABASE", "seeds_design")
TOPIC = os.environ.get("SEEDS_DESIGN_TOPIC", "seeds-design.request-events")
BOOTSTRAP_SERVERS = os.environ["KAFKA_BOOTSTRAP_SERVERS"].split(",")

logger = logging.getLogger("seeds-design")


def database_url(database: str) -> str:
    """DATABASE_URL (postgres://...) for SQLAlchemy with psycopg 3, pointed at `database`."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(("postgresql+psycopg", parts.netloc, "/" + database, parts.query, ""))


class Base(DeclarativeBase):
    pass


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[Optional[int]] = mapped_column(BigInteger, index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(100), index=True)
    city: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    preferred_from: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    preferred_to: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    budget_amount_minor: Mapped[Optional[int]] = mapped_column(BigInteger)
    budget_currency: Mapped[Optional[str]] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The body servicehub_tests::new_request builds, so one body serves both designs.
class TimeWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from")
    to: datetime


class Money(BaseModel):
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class RequestCreate(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    category: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    urgency: Literal["low", "normal", "high", "urgent"]
    region: str = Field(min_length=1, max_length=100)
    city: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=3, max_length=300)
    preferred_time_window: Optional[TimeWindow] = None
    budget: Optional[Money] = None


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    customer_id: Optional[int]
    title: str
    description: str
    category: str
    urgency: str
    region: str
    city: str
    address: str
    preferred_from: Optional[datetime]
    preferred_to: Optional[datetime]
    budget_amount_minor: Optional[int]
    budget_currency: Optional[str]
    status: str
    created_at: datetime
    updated_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI):
    # One engine and one producer per uvicorn worker. 32 connections over 2 workers: 16 requests
    # at once per worker (FastAPI runs sync endpoints in a pool of 40 threads), so 16 connections.
    engine = create_engine(database_url(DATABASE), pool_size=16, max_overflow=4, pool_pre_ping=True)
    app.state.sessions = sessionmaker(bind=engine)
    app.state.producer = KafkaProducer(
        bootstrap_servers=BOOTSTRAP_SERVERS,
        acks="all",
        retries=3,
        key_serializer=lambda k: k.encode(),
        value_serializer=lambda v: json.dumps(v, ensure_ascii=False, default=str).encode(),
    )
    yield
    app.state.producer.close(timeout=10)
    engine.dispose()


app = FastAPI(title="seeds-design", lifespan=lifespan)


def get_db(request: Request):
    db = request.app.state.sessions()
    try:
        yield db
    finally:
        db.close()


@app.post("/requests", status_code=status.HTTP_201_CREATED, response_model=RequestOut)
def create_request(data: RequestCreate, request: Request, response: Response, db: Session = Depends(get_db)):
    row = ServiceRequest(
        title=data.title,
        description=data.description,
        category=data.category,
        urgency=data.urgency,
        region=data.region,
        city=data.city,
        address=data.address,
        preferred_from=data.preferred_time_window.from_ if data.preferred_time_window else None,
        preferred_to=data.preferred_time_window.to if data.preferred_time_window else None,
        budget_amount_minor=data.budget.amount_minor if data.budget else None,
        budget_currency=data.budget.currency if data.budget else None,
    )
    db.add(row)
    db.commit()
    db.refresh(row)

    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "request.created",
        "source": "request-service",
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "request_id": row.id,
        "customer_id": row.customer_id,
        "title": row.title,
        "description": row.description,
        "category": row.category,
        "urgency": row.urgency,
        "region": row.region,
        "city": row.city,
        "address": row.address,
    }
    try:
        request.app.state.producer.send(TOPIC, key=str(row.id), value=event).get(timeout=10)
    except Exception as e:  # the seeds: log it, never fail the request over the event
        logger.error("publishing request.created of %s failed: %s", row.id, e)
    response.headers["Location"] = f"/requests/{row.id}"
    return row


def setup() -> None:
    """Creates the database, the table and the topic when missing."""
    import psycopg
    from psycopg import sql
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            print(f"seeds-design: created database {DATABASE}", file=sys.stderr)
    engine = create_engine(database_url(DATABASE))
    Base.metadata.create_all(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM service_requests")).scalar_one()
    engine.dispose()

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP_SERVERS, client_id="seeds-design-setup")
    try:
        if TOPIC not in admin.list_topics():
            # As the seeds' request-events: 6 partitions, 7 days, replication 3 (capped at the
            # brokers there are), acks=all meaningful with min.insync.replicas 2.
            brokers = len(admin.describe_cluster()["brokers"])
            replication = min(3, max(1, brokers))
            topic = NewTopic(
                name=TOPIC,
                num_partitions=6,
                replication_factor=replication,
                topic_configs={
                    "retention.ms": str(7 * 24 * 3600 * 1000),
                    "min.insync.replicas": str(min(2, replication)),
                },
            )
            try:
                admin.create_topics([topic])
                print(f"seeds-design: created topic {TOPIC} (replication {replication})", file=sys.stderr)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    print(f"seeds-design: database {DATABASE} ({rows} requests), topic {TOPIC}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        setup()
    else:
        sys.exit("usage: python app.py setup   (serve it with: uvicorn app:app)")
