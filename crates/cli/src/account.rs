//! `optout-relay account ...`: account management straight on the database.

use chrono::Utc;
use optout_core::{AccountId, AccountName, NewAccount, NewApiKey};

use crate::cli::{AccountCommand, AccountCreateArgs};
use crate::database;

/// Runs an `account` subcommand.
pub async fn run(command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Create(args) => create(args).await,
    }
}

async fn create(args: AccountCreateArgs) -> anyhow::Result<()> {
    let name = AccountName::parse(&args.name).map_err(anyhow::Error::msg)?;
    let id = args
        .account_id
        .as_deref()
        .map(AccountId::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let opened = database::open(&args.database.database_url, database::Migrations::Apply).await?;
    let now = Utc::now();
    let (key, stored_key) = NewApiKey::generate(now);
    let key_id = stored_key.id;
    let account = opened
        .store
        .create_account(
            NewAccount {
                id,
                name,
                created_at: now,
            },
            stored_key,
        )
        .await?;
    println!("account id: {}", account.id);
    println!("api key:    {}", key.expose());
    println!("key id:     {key_id}");
    println!("The API key is shown only this once; keep it safe.");
    Ok(())
}
