"""stored routing rule sets (the YAML of ``territorium route``, kept valid and versioned)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_rule_sets',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('yaml', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('routing_rule_sets')
