"""email: mailboxes (routing rules) and messages (thread + outbox)

Revision ID: 0004b
Revises: 0003
Create Date: 2026-11-22 03:07:52.939196
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = '0004b'
down_revision = '0003'
branch_labels = ('email',)
depends_on = None


def upgrade() -> None:
    op.create_table('email_mailboxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('auto_ack', sa.Boolean(), nullable=False),
    sa.Column('response_target_s', sa.Float(), nullable=False),
    sa.Column('created_at', ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address')
    )
    with op.batch_alter_table('email_mailboxes', schema=None) as batch_op:
        batch_op.create_index('ix_email_mailboxes_tenant', ['tenant_id'], unique=False)

    op.create_table('email_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.String(length=32), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('message_id', sa.String(length=500), nullable=False),
    sa.Column('in_reply_to', sa.String(length=500), nullable=True),
    sa.Column('refs', sa.Text(), nullable=False),
    sa.Column('from_address', sa.String(length=254), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('auto_submitted', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('sent_at', ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('at', ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mailbox_id'], ['email_mailboxes.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'message_id', name='uq_email_messages_tenant_msgid')
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index('ix_email_messages_contact', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_email_messages_outbox', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_email_messages_outbox')
        batch_op.drop_index('ix_email_messages_contact')
    op.drop_table('email_messages')
    with op.batch_alter_table('email_mailboxes', schema=None) as batch_op:
        batch_op.drop_index('ix_email_mailboxes_tenant')
    op.drop_table('email_mailboxes')
