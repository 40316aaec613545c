/** Public entry points of producers/: the producer library for services that write to Kafka directly. */
export { TributaryProducer, EventValidationError, ProduceError } from './tributary-producer';
export type { UserEventInput, OrderEventInput, Receipt, TributaryProducerOptions } from './tributary-producer';
