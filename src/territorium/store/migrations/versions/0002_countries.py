"""addresses of any country: postal code and ISO 3166-2 subdivision beside the US ZIP/state

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 04:10:00

``zip``/``state`` keep holding US ZIPs and USPS codes only (what the US geography reads);
``postal_code``/``subdivision`` hold the national postal code and ISO 3166-2 code of every
row, of any country. Existing rows (US only before this revision) are filled from their
ZIP and state.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_COLUMNS = {
    "accounts": ("postal_code", "subdivision", "zip", "state", "country"),
    "customers": ("postal_code", "subdivision", "zip", "state", "country"),
    "orders": ("shipping_postal_code", "shipping_subdivision", "shipping_zip", "shipping_state", "shipping_country"),
}


def upgrade() -> None:
    for table, (pc, sd, z, st, cn) in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(pc, sa.String(), nullable=True))
            batch_op.add_column(sa.Column(sd, sa.String(), nullable=True))
        op.execute(f'UPDATE "{table}" SET "{pc}" = "{z}" WHERE "{z}" IS NOT NULL')
        op.execute(f"UPDATE \"{table}\" SET \"{sd}\" = 'US-' || \"{st}\" "
                   f"WHERE \"{st}\" IS NOT NULL AND (\"{cn}\" IS NULL OR \"{cn}\" = 'US')")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_country"), ["country"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_country"))
    for table, (pc, sd, *_rest) in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(sd)
            batch_op.drop_column(pc)
