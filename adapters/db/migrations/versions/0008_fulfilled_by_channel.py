"""orders fulfilled by their channel (Amazon FBA): recorded, reserving nothing here

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column(
            "fulfilled_by_channel", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column("orders", "fulfilled_by_channel")
