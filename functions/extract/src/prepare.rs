//! Step "prepare": everything the run needs before its first row is planned —
//! the sync as the config has it now, the model's warehouse and its rows sorted
//! by key, the mapper, and a check of the destination (its token, the types
//! of the custom attributes it already has, and the subscription types or
//! Custom Object type the sync names).

use anyhow::anyhow;

use backflow_aws::Secrets;
use backflow_core::batch::LoadSpec;
use backflow_core::config::{Config, KeyField, SyncSpec};
use backflow_core::mapping::Mapper;
use backflow_core::run::{RunRecord, Usage};
use backflow_core::subscriptions;
use backflow_intercom::{CallStats, Client};
use backflow_warehouse::{RowStream, Source, Warehouse};

use crate::Extract;

/// The sync, its destination and its model's warehouse, ready to be read.
pub(crate) struct Prepared {
    pub(crate) spec: SyncSpec,
    /// What every batch carries; only its attributes grow as rows are mapped.
    pub(crate) load_spec: LoadSpec,
    /// The model's SQL, sorted by key so the state is walked alongside (see
    /// `merge`).
    sql: String,
    /// Shared by the warehouse URL and the access token (one cache per run).
    secrets: Secrets,
}

/// The model's rows as they stream, and the mapper built from their columns.
pub(crate) struct Model<'w> {
    pub(crate) rows: RowStream<'w>,
    pub(crate) mapper: Mapper,
}

impl Extract {
    /// Reads the config, finds the run's sync, model and destination in it, and
    /// opens the model's warehouse (returned beside the rest, so the rows it
    /// streams do not hold the rest borrowed). A sync, model or destination that
    /// left the config fails the run here, before anything is read or sent.
    pub(crate) async fn prepare(&self, run: &RunRecord) -> anyhow::Result<(Prepared, Warehouse)> {
        let config =
            backflow_aws::load_config(&self.settings.config_location, &self.aws.s3).await?;
        let spec = config
            .sync(&run.sync)
            .ok_or_else(|| anyhow!("sync `{}` is no longer in {}", run.sync, config.origin))?;
        let sql = config
            .model_sql(&spec.model)
            .ok_or_else(|| anyhow!("model `{}` has no SQL", spec.model))?;
        let load_spec = config
            .load_spec(&run.sync, Vec::new())
            .ok_or_else(|| anyhow!("destination `{}` is not in the config", spec.destination))?;
        let secrets = Secrets::new(self.aws.secrets.clone());
        let (name, source) = warehouse_source(&config, &spec.model, &secrets).await?;
        let warehouse = Warehouse::connect_named(name, &source).await?;
        let sql = warehouse.sorted_by_key(sql, &spec.key.column, spec.key.field == KeyField::Email);
        let prepared = Prepared {
            spec: spec.clone(),
            load_spec,
            sql,
            secrets,
        };
        Ok((prepared, warehouse))
    }

    /// Checks the token before anything is planned (a refused token fails the
    /// run with the region that accepts it), and learns the types of the custom
    /// attributes that already exist, so values are coerced to them and an
    /// uncoercible value is reported as invalid instead of refused row by row.
    /// These calls take their turn from the app's shared budget like `load`'s.
    pub(crate) async fn check_destination(
        &self,
        prepared: &mut Prepared,
        mapper: &mut Mapper,
        usage: &mut Usage,
    ) -> anyhow::Result<()> {
        let intercom = self.intercom(prepared).await?;
        intercom.check_token().await?;
        if let Some(model) = prepared.spec.object.attribute_model() {
            if !mapper.attributes().is_empty() {
                for (name, data_type) in intercom.existing_attribute_types(model).await? {
                    mapper.set_attribute_type(&name, data_type);
                }
            }
        }
        check_types(&intercom, prepared).await?;
        done_with(&intercom, usage).await;
        Ok(())
    }

    /// The destination's Intercom client, taking its calls from the app's shared
    /// budget (the token comes from the run's secrets cache).
    pub(crate) async fn intercom(&self, prepared: &Prepared) -> anyhow::Result<Client> {
        let destination = &prepared.load_spec.destination;
        let token = prepared.secrets.get(&destination.access_token).await?;
        let intercom = Client::for_destination(destination, token)?;
        Ok(backflow_aws::share_budget(
            intercom,
            &self.aws.dynamodb,
            &self.settings.runs_table,
        ))
    }
}

/// A client's work is done: its unspent calls go back to the shared budget,
/// and what it used is added to the run's usage. Returns what it used.
pub(crate) async fn done_with(intercom: &Client, usage: &mut Usage) -> CallStats {
    intercom.release_budget().await;
    let stats = intercom.stats();
    usage.intercom_calls += stats.calls;
    usage.dynamodb_write_units += stats.budget_writes as f64;
    stats
}

/// What the sync names by name in Intercom — the subscription types it maps,
/// its Custom Object type — checked once per run, before any write: an unknown
/// one fails the run naming it. The subscription types' ids go into the load
/// spec, so no `load` looks them up.
async fn check_types(
    intercom: &backflow_intercom::Client,
    prepared: &mut Prepared,
) -> anyhow::Result<()> {
    let names = subscriptions::mapped_names(&prepared.spec);
    if !names.is_empty() {
        let available = intercom.subscription_types().await?;
        prepared.load_spec.subscription_types =
            subscriptions::resolve(&names, &available).map_err(|e| anyhow!(e))?;
    }
    if let Some(type_name) = &prepared.spec.custom_object {
        intercom.check_custom_object_type(type_name).await?;
    }
    Ok(())
}

impl Prepared {
    /// Runs the model and resolves the sync's columns against its result set (a
    /// column the sync names and the model lacks fails the run here).
    pub(crate) async fn open_model<'w>(
        &self,
        warehouse: &'w Warehouse,
        run: &RunRecord,
    ) -> anyhow::Result<Model<'w>> {
        let rows = warehouse.stream(&self.spec.model, &self.sql).await?;
        let mapper = Mapper::new(&run.sync, &self.spec, &rows.columns)?;
        Ok(Model { rows, mapper })
    }
}

/// Where model `model`'s warehouse is, with every credential it names fetched
/// from Secrets Manager, and the warehouse's name in the config.
async fn warehouse_source<'c>(
    config: &'c Config,
    model: &str,
    secrets: &Secrets,
) -> anyhow::Result<(&'c str, Source)> {
    let (name, warehouse) = config
        .warehouse_for(model)
        .ok_or_else(|| anyhow!("model `{model}` has no warehouse"))?;
    let source = Source::from_config(
        warehouse,
        |path| backflow_aws::sqlite_path(config, path),
        |reference| async move { secrets.get(&reference).await.map_err(anyhow::Error::from) },
    )
    .await?;
    Ok((name, source))
}
