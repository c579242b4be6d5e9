// TensorFlow.js prints advice to the console ("install our node backend to speed things up").
// It is meant for developers: Loupe picks the backend itself and says why in the plan, so in a
// terminal the advice is only noise. PROD turns off TF.js's own console messages and nothing
// else (its DEBUG checks are off by default). Imported first by every worker that runs TF.js,
// and by architectures.ts, since the plan builds models on the main thread to count their work.
import * as tf from '@tensorflow/tfjs';

tf.env().set('PROD', true);
