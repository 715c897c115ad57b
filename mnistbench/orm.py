"""The leaderboard's tables as SQLAlchemy declares them: a run's row and its per-epoch history. The one
declaration of the columns; migrations/ builds them, schema.py says how readers decode them."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .config import Status


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    benchmark: Mapped[str] = mapped_column(String(16), index=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=Status.running)
    test_accuracy: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    params_total: Mapped[int | None] = mapped_column(Integer)  # count_params(), moving statistics included
    params_trainable: Mapped[int | None] = mapped_column(Integer)
    labels_used: Mapped[int | None] = mapped_column(Integer)  # distinct training labels the run read
    selection_labels_read: Mapped[int | None] = mapped_column(Integer)  # labels read to choose (labels board)
    flags: Mapped[str] = mapped_column(String(200), default="")  # protocol notes shown on the board
    epochs_run: Mapped[int | None] = mapped_column(Integer)
    batch_size: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON, default=dict)  # what the run was told: it rebuilds the run
    details: Mapped[dict | None] = mapped_column(JSON, default=dict)  # what it measured on the way
    train_seconds: Mapped[float | None] = mapped_column(Float)
    eval_seconds: Mapped[float | None] = mapped_column(Float)
    time_to_99: Mapped[float | None] = mapped_column(Float)  # training seconds until val_accuracy >= 99.0 %
    epoch_to_99: Mapped[int | None] = mapped_column(Integer)
    time_to_995: Mapped[float | None] = mapped_column(Float)
    epoch_to_995: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(200))
    python_version: Mapped[str | None] = mapped_column(String(32))
    tf_version: Mapped[str | None] = mapped_column(String(32))
    keras_version: Mapped[str | None] = mapped_column(String(32))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    model_path: Mapped[str | None] = mapped_column(Text)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    verification: Mapped[str | None] = mapped_column(String(16))  # None, "verified" or "mismatch"
    verification_note: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    sweep: Mapped[str | None] = mapped_column(String(100), index=True)
    trial: Mapped[int | None] = mapped_column(Integer)
    members: Mapped[list | None] = mapped_column(JSON)  # run ids of an ensemble
    # Who recorded it: the database role on PostgreSQL (row-level security compares it with
    # current_user, see classroom.py), the OS user elsewhere.
    owner: Mapped[str | None] = mapped_column(String(100), index=True)

    epochs: Mapped[list[Epoch]] = relationship(back_populates="run", order_by="Epoch.epoch",
                                               cascade="all, delete-orphan")

    @property
    def columns(self) -> tuple[str, ...]:
        return RUN_COLUMNS


class Epoch(Base):
    __tablename__ = "epochs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based
    loss: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)  # wall seconds since training start
    images_per_s: Mapped[float | None] = mapped_column(Float)

    run: Mapped[Run] = relationship(back_populates="epochs")


RUN_COLUMNS = tuple(c.name for c in Run.__table__.columns)
