import { Construct } from 'constructs';
import { EcrLifecyclePolicy } from '@cdktf/provider-aws/lib/ecr-lifecycle-policy';
import { EcrRepository } from '@cdktf/provider-aws/lib/ecr-repository';

export interface ImageRepositoryProps {
  name: string;
  /** Tagged images kept (the newest), enough to roll back a few releases. */
  keepTaggedImages: number;
  /**
   * A destroy deletes the images too (`force_delete`): for environments that are torn down
   * (`teardown.destroyWithContents`, dev). Unset, a destroy fails on a repository with images.
   */
  forceDelete?: boolean;
}

/**
 * A private ECR repository: immutable tags (a tag always means the same image, so a task
 * definition revision is reproducible), scan on push, AES-256 at rest (the KMS option adds a
 * key at $1/month for no gain here), and a lifecycle that bounds storage cost.
 */
export class ImageRepository extends Construct {
  readonly repository: EcrRepository;

  constructor(scope: Construct, id: string, props: ImageRepositoryProps) {
    super(scope, id);
    this.repository = new EcrRepository(this, 'repository', {
      name: props.name,
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: 'AES256' }],
      forceDelete: props.forceDelete || undefined,
    });
    new EcrLifecyclePolicy(this, 'lifecycle', {
      repository: this.repository.name,
      policy: JSON.stringify({
        rules: [
          {
            rulePriority: 1,
            description: 'Untagged layers of superseded pushes go after a day',
            selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 },
            action: { type: 'expire' },
          },
          {
            rulePriority: 2,
            description: `Keep the ${props.keepTaggedImages} newest tagged images`,
            selection: { tagStatus: 'tagged', tagPatternList: ['*'], countType: 'imageCountMoreThan', countNumber: props.keepTaggedImages },
            action: { type: 'expire' },
          },
        ],
      }),
    });
  }

  get url(): string {
    return this.repository.repositoryUrl;
  }

  get arn(): string {
    return this.repository.arn;
  }
}
