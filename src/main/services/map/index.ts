export { layoutMap, mapPoints, MAP_NEEDS_BACKBONE, type MapOptions } from './map';
