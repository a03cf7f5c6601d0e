# Environment of the private RabbitMQ node (sourced by helpers/rabbitmq.sh).
export HOME=${data}/rabbitmq
export RABBITMQ_NODENAME=tcup@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5682 RABBITMQ_DIST_PORT=25682
# epmd listens on every address unless told otherwise.
export ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=4380
export RABBITMQ_MNESIA_BASE=${data}/rabbitmq/mnesia RABBITMQ_LOG_BASE=${logs}/rabbitmq
export RABBITMQ_CONFIG_FILE=${etc}/rabbitmq/rabbitmq.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=${etc}/rabbitmq/enabled_plugins
export RABBITMQ_PID_FILE=${run}/rabbitmq-beam.pid
export RABBITMQ_CONF_ENV_FILE=${etc}/rabbitmq/rabbitmq-env.conf
# Schedulers sleep when idle instead of spinning (idle CPU near zero on 2 cores).
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
